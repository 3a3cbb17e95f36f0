"""The fixed parts of the generated C (study/best/c_source.py writes the rest): numpy's
interp, the normal quantile function, tanh as Eigen computes it and the Dense layer for P
particles (each sum taken in the input's order, one float rounding for a product and one for
a sum: c_reference.c_order_reference repeats it exactly). Every symbol is static and named
`@NAME@_...` (the export's name replaces @NAME@), so the library exports only NAME and
NAME_batch."""

PREAMBLE = r"""
#include <math.h>
#include <stddef.h>
#include "@NAME@.h"

static double @NAME@_interp(double x, const double *xp, const double *fp, int n)
{
    /* numpy.interp: the largest j with xp[j] <= x */
    if (x < xp[0]) return fp[0];
    int lo = 0, hi = n;                       /* upper = number of xp[j] <= x */
    while (lo < hi) { int mid = (lo + hi) / 2; if (xp[mid] <= x) lo = mid + 1; else hi = mid; }
    if (lo >= n) return fp[n - 1];
    int j = lo - 1;
    if (j > n - 2) j = n - 2;
    double dx = xp[j + 1] - xp[j];
    double t = dx > 0.0 ? (x - xp[j]) / dx : 0.0;
    return fp[j] + t * (fp[j + 1] - fp[j]);
}

static double @NAME@_ndtri(double p)
{
    /* Acklam's rational approximation, then one Halley step on erfc */
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
        -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01,
        2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
        -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
        -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00,
        2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
        2.445134137142996e+00, 3.754408661907416e+00};
    double q, r, x;
    if (p < 0.02425) {
        q = sqrt(-2.0 * log(p));
        x = (((((c[0]*q + c[1])*q + c[2])*q + c[3])*q + c[4])*q + c[5]) /
            ((((d[0]*q + d[1])*q + d[2])*q + d[3])*q + 1.0);
    } else if (p > 1.0 - 0.02425) {
        q = sqrt(-2.0 * log(1.0 - p));
        x = -(((((c[0]*q + c[1])*q + c[2])*q + c[3])*q + c[4])*q + c[5]) /
             ((((d[0]*q + d[1])*q + d[2])*q + d[3])*q + 1.0);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0]*r + a[1])*r + a[2])*r + a[3])*r + a[4])*r + a[5]) * q /
            (((((b[0]*r + b[1])*r + b[2])*r + b[3])*r + b[4])*r + 1.0);
    }
    double e = 0.5 * erfc(-x / 1.4142135623730951) - p;
    double u = e * 2.5066282746310002 * exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}
"""

TANH = r"""
/* tanh as Eigen (TensorFlow's CPU kernels) computes it: a 13/6 rational function on
   [-7.905, 7.905], x itself below 4e-4; |error| < 4e-7, and no call: it vectorises.
   c_reference.tanh_rational repeats it operation for operation in numpy float32. */
static inline float @NAME@_tanh_rational(float x)
{
    const float c = 7.90531110763549805f;
    const float a = x > c ? c : (x < -c ? -c : x), x2 = a * a;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return fabsf(x) < 0.0004f ? x : a * p / q;
}

"""

DENSE = r"""
/* out[p][j] = act(b[j] + sum_i in[p][i] w[i][j]) (+ res[p][j]) for P particles: for each
   input i, its weight row is loaded once and serves the P particles (the accumulators,
   P rows of n_out floats, stay in L1); the j loop is contiguous, vectorised by -O3. */
#define @NAME@_DENSE(P) \
static void @NAME@_dense_##P(const float *in, int n_in, float *out, int n_out, const float *w, \
                      const float *b, int act, const float *res) \
{ \
    float acc[P][n_out]; \
    for (int q = 0; q < P; q++) for (int j = 0; j < n_out; j++) acc[q][j] = b[j]; \
    for (int i = 0; i < n_in; i++) { \
        const float *wi = w + (size_t)i * n_out; \
        float a[P]; \
        for (int q = 0; q < P; q++) a[q] = in[q * n_in + i]; \
        for (int j = 0; j < n_out; j++) { \
            const float x = wi[j]; \
            for (int q = 0; q < P; q++) acc[q][j] += a[q] * x; \
        } \
    } \
    for (int q = 0; q < P; q++) for (int j = 0; j < n_out; j++) { \
        const float v = @NAME@_activate(acc[q][j], act); \
        out[q * n_out + j] = res ? res[q * n_out + j] + v : v; \
    } \
}
"""
