/* direct.h - direct convolution for layers with few input channels (stride 1, dilation 1,
 * one channel group, any kernel size and padding): forward, weight gradient and input
 * gradient of a group of images, for a caller that splits the batch over threads.
 * Single-threaded; arrays are NCHW, weights OC x C x KH x KW.
 *
 * Spatial positions go in the vector lanes. Each input channel is copied into KW "shifted
 * planes", plane kx holding rows of the zero-padded input starting at column kx and OW
 * wide, so that for every flat output position p = oy * OW + ox
 *     y[oc][p] = sum over (c, ky, kx) of w[oc][c][ky][kx] * plane(c, kx)[p + ky * OW]:
 * a sum of contiguous vectors with broadcast weights, with no columns to drop, stored
 * straight into NCHW. Blocks of output channels x vectors of positions stay in registers.
 * The weight gradient is dw[oc][c][ky][kx] = sum over p of dy[oc][p] * plane(c, kx)[p +
 * ky * OW], summed per lane over all positions and images and reduced once at the end,
 * the bias gradient with it. The input gradient is either the forward convolution of dy
 * with the weights flipped and their channel axes swapped, or (where the layer shrinks the
 * image, so that this would multiply many zeros of dy's padding) the same kernel forming
 * sum over o of w[o][c][ky][kx] * dy[o] into shifted planes, added into dx a row at a time,
 * or (on calls of many images) the forward form with VW images in the vector lanes, each
 * row of dx taking only the filter rows that reach dy; direct_impl.h picks the cheapest.
 * Every sum runs in a fixed order: the bits depend only on the inputs, the SIMD level and
 * the images of the call. */
#ifndef CNN_DIRECT_H
#define CNN_DIRECT_H
#include <stddef.h>
#include <stdint.h>

/* The input gradient's three ways (direct_impl.h): the cheapest is taken unless
 * direct_shape.dx_way names one (tests run each); "lanes" only where direct_dx_way allows. */
enum { DIRECT_DX_AUTO, DIRECT_DX_FULL, DIRECT_DX_SCATTER, DIRECT_DX_LANES };

typedef struct direct_shape {
    int C, H, W, OC, KH, KW;
    int PT, PL; /* padding above and left of the input (below and right follow from OH, OW) */
    int OH, OW; /* H + PT + PB - KH + 1 and W + PL + PR - KW + 1, both >= 1 */
    int dx_way; /* DIRECT_DX_AUTO (what direct_shape_init sets) or the way to take */
} direct_shape;

/* Floats of one image's planes (all channels, all shifts) beyond which a shape is refused. */
#define DIRECT_MAX_PLANES ((int64_t)1 << 24)
/* Fills s; returns 0, or -1 if a size is not positive, the output would be empty or the
 * planes larger than DIRECT_MAX_PLANES. */
int direct_shape_init(direct_shape *s, int C, int H, int W, int OC, int KH, int KW, int PT, int PB, int PL, int PR);
/* Floats of scratch direct_fwd_prep + direct_fwd and direct_bwd need, a multiple of 16. */
size_t direct_ws_floats(const direct_shape *s);

/* Lays out the weights w (OC x C x KH x KW, borrowed) for direct_fwd at the start of ws
 * (direct_ws_floats floats), and clears the padding of ws's input planes. */
void direct_fwd_prep(int simd, const direct_shape *s, const float *w, float *ws);
/* y (n x OC x OH x OW) = conv(x (n x C x H x W)) + bias (NULL: none), through a relu
 * (max(0, v), NaN kept) if relu is set, using the ws that direct_fwd_prep prepared with the
 * same simd level and shape; y is stored, not read. */
void direct_fwd(int simd, const direct_shape *s, const float *x, int n, const float *bias, int relu, float *y,
                float *ws);
/* For n images: dw (OC x C x KH x KW) += the weight gradient; db (OC, NULL: not wanted)
 * += the bias gradient; dx (n x C x H x W, NULL: not wanted) += the input gradient.
 * Weights w as in the forward pass; ws as above (no prep needed). */
void direct_bwd(int simd, const direct_shape *s, const float *w, const float *x, const float *dy, int n, float *dw,
                float *db, float *dx, float *ws);
/* The way (DIRECT_DX_FULL, _SCATTER or _LANES) direct_bwd takes for the input gradient of n
 * images at this simd level. */
int direct_dx_way(int simd, const direct_shape *s, int n);
#endif
