# The OpenCV side of the `ops` bench case: what a user would write in Python for each swarm op, timed in
# CPU time (time.process_time) on one thread (cv2.setNumThreads(1)), median of several runs after a
# warm-up. Started by bench/cases/ops.ts.
#
#   python3 opencv.py serve          one JSON request per stdin line, one JSON answer per stdout line:
#     {"load": "img.rgb", "width": w, "height": h}               -> {"ok": true}
#     {"op": name, "params": {...}, "runs": n, "maxMs": ms}       -> {"ms": [cpu ms per run]}
#   python3 opencv.py pipeline in.png out.png threads    blur sigma 2 + canny, from decode to encode, once;
#     prints {"decodeMs", "kernelMs", "encodeMs"} (CPU ms). Op "blur-canny" of serve times its kernels alone.
import json
import sys
import time

import cv2
import numpy as np


def grey(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def lut_of_luma(img, table):
    # Our normalise/equalise map every colour channel through one table built from the luma histogram.
    return cv2.LUT(img, table)


def luma_hist(img):
    return cv2.calcHist([grey(img)], [0], None, [256], [0, 256]).reshape(-1)


def equalise(img, _p):
    cdf = np.cumsum(luma_hist(img))
    lo = cdf[cdf > 0][0]
    table = np.clip(np.rint((cdf - lo) * 255 / max(cdf[-1] - lo, 1)), 0, 255).astype(np.uint8)
    return lut_of_luma(img, table)


def normalise(img, p):
    cdf = np.cumsum(luma_hist(img))
    total = cdf[-1]
    lo = int(np.searchsorted(cdf, total * p['lower'] / 100, side='right'))
    hi = int(np.searchsorted(cdf, total * p['upper'] / 100, side='left'))
    v = np.arange(256, dtype=np.float64)
    table = np.clip(np.rint((v - lo) * 255 / max(hi - lo, 1)), 0, 255).astype(np.uint8)
    return lut_of_luma(img, table)


def threshold(img, p):
    if p['method'] == 'otsu':
        return cv2.threshold(grey(img), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    # ours: luma >= level -> 255; THRESH_BINARY is luma > thresh.
    return cv2.threshold(grey(img), p['level'] - 1, 255, cv2.THRESH_BINARY)[1]


def sharpen(img, p):
    a = p['amount']
    return cv2.addWeighted(img, 1 + a, cv2.GaussianBlur(img, (0, 0), p['sigma']), -a, 0)


def box(r):
    return np.ones((2 * r + 1, 2 * r + 1), np.uint8)


def edge(img, p):
    g = grey(img)
    m = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    return cv2.convertScaleAbs(m, alpha=p['scale'])


def emboss(img, p):
    s = p['strength']
    k = np.array([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], np.float32) * s
    k[1, 1] += 1
    return cv2.filter2D(img, -1, k)


def canny(img, p):
    g = grey(img)
    if p['sigma'] > 0:
        g = cv2.GaussianBlur(g, (0, 0), p['sigma'])
    return cv2.Canny(g, p['low'], p['high'], L2gradient=True)


def contours(img, p):
    mask = canny(img, p)
    r = p['thickness'] // 2
    if r > 0:
        mask = cv2.dilate(mask, box(r))
    out = img.copy()
    c = p['colour'].lstrip('#')
    out[mask > 0] = (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))
    return out


SEPIA = np.array([[.393, .769, .189], [.349, .686, .168], [.272, .534, .131]])


def gamma_lut(g):
    return np.clip(np.rint(255 * (np.arange(256) / 255) ** (1 / g)), 0, 255).astype(np.uint8)


OPS = {
    'blur': lambda img, p: cv2.GaussianBlur(img, (0, 0), p['sigma']),
    'sharpen': sharpen,
    'median': lambda img, p: cv2.medianBlur(img, 2 * p['radius'] + 1),
    'erode': lambda img, p: cv2.erode(img, box(p['radius'])),
    'dilate': lambda img, p: cv2.dilate(img, box(p['radius'])),
    'edge': edge,
    'emboss': emboss,
    'canny': canny,
    'contours': contours,
    'equalise': equalise,
    'normalise': normalise,
    'threshold': threshold,
    'grayscale': lambda img, _p: grey(img),
    'sepia': lambda img, _p: cv2.transform(img, SEPIA),
    # (v - 128) * c + 128 + b = c * v + (128 - 128 c + b)
    'adjust': lambda img, p: cv2.convertScaleAbs(img, alpha=p['contrast'], beta=128 - 128 * p['contrast'] + p['brightness']),
    'gamma': lambda img, p: cv2.LUT(img, gamma_lut(p['gamma'])),
    'invert': lambda img, _p: cv2.bitwise_not(img),
    'blur-canny': lambda img, _p: blur_canny(img),
}


def cpu_ms(fn):
    t = time.process_time()
    fn()
    return (time.process_time() - t) * 1000


def timed(fn, runs, max_ms):
    """Warm-up, then up to `runs` runs; a run longer than max_ms / runs lowers the count (at least 1)."""
    warm = cpu_ms(fn)
    if warm > max_ms:
        return [warm]  # one multi-second run: the warm-up is the sample
    n = max(1, min(runs, int(max_ms / max(warm, 1e-3))))
    return [cpu_ms(fn) for _ in range(n)]


def serve():
    cv2.setNumThreads(1)
    img = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if 'load' in req:
                img = np.fromfile(req['load'], dtype=np.uint8).reshape(req['height'], req['width'], 3)
                ans = {'ok': True}
            else:
                fn = OPS[req['op']]
                p = req['params']
                ans = {'ms': timed(lambda: fn(img, p), req['runs'], req['maxMs'])}
        except Exception as err:  # answered, so the bench can say which op failed
            ans = {'error': f'{type(err).__name__}: {err}'}
        print(json.dumps(ans), flush=True)


def blur_canny(img, bgr=False):
    b = cv2.GaussianBlur(img, (0, 0), 2)
    g = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY)
    return cv2.Canny(cv2.GaussianBlur(g, (0, 0), 1.4), 40, 100, L2gradient=True)


def pipeline(src, dst, threads):
    cv2.setNumThreads(threads)
    t = time.process_time()
    img = cv2.imread(src)
    decode = (time.process_time() - t) * 1000
    t = time.process_time()
    out = blur_canny(img, bgr=True)
    kernel = (time.process_time() - t) * 1000
    t = time.process_time()
    # PNG level 6: what swarm's encoder (sharp's default) uses, so both sides compress alike.
    cv2.imwrite(dst, out, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    encode = (time.process_time() - t) * 1000
    print(json.dumps({'decodeMs': decode, 'kernelMs': kernel, 'encodeMs': encode}), flush=True)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve()
    elif sys.argv[1] == 'pipeline':
        pipeline(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(f'opencv.py: unknown command {sys.argv[1]}')
