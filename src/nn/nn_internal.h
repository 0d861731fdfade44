/* nn_internal.h: kernels shared between the files of src/nn, not part of the public API. */
#ifndef SMBRL_NN_INTERNAL_H
#define SMBRL_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/nn.h"

/* out (rows, n) += bias (n), then max(., 0) when relu: the epilogue of every GEMM layer, so
 * that a following ReLU costs no extra pass over the activations. */
void nn_bias_act(float *out, const float *bias, size_t rows, int n, int relu);

/* dbias (n) += the sum of the rows of dout (rows, n): every conv's bias gradient. */
void nn_bias_grad(float *dbias, const float *dout, size_t rows, int n);

/* nn_conv2d_backward for a conv whose input is a ReLU's output: dinp is also zeroed where
 * inp <= 0, which is that ReLU's backward, so the caller skips it (the padded path does it
 * while copying the gradient out of its scratch, with no extra pass). */
void nn_conv2d_backward_act(float *dinp, float *dweight, float *dbias, float *drows, float *wperm,
                            float *dwperm, const float *dout, const float *rows, const float *inp,
                            const float *weight, const nn_conv_shape *s, int relu_in);

/* The public forwards with that epilogue choice. */
void nn_conv2d_forward_act(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                           const float *bias, const nn_conv_shape *s, int relu);
void nn_conv2d_forward_u8_act(float *out, float *rows, float *scratch, float *wperm, const uint8_t *inp,
                              const float *weight, const float *bias, const nn_conv_shape *s, int relu);
void nn_linear_forward_act(float *out, const float *inp, const float *weight, const float *bias, int B,
                           int IN, int OUT, int relu);
/* OUT of a layer's output features (weight and bias point at the first one) into out, whose
 * rows are ldo floats apart: threads that share a small batch split a layer by features. */
void nn_linear_forward_cols(float *out, size_t ldo, const float *inp, const float *weight, const float *bias,
                            int B, int IN, int OUT, int relu);

/* Direct convolution (conv_direct.c): NHWC input, no padding (conv.c pads a copy), OC and
 * K*C multiples of 16, AVX2 + FMA. wpat is the weight in patch order (OC, K, K, C); pack is
 * OC*K*K*C scratch that the pack_ functions fill once for any number of calls.
 * forward: out (B,OH,OW,OC) = conv without bias. dweight: dwpat (OC,K,K,C) overwritten.
 * dinp: (B,H,W,C) overwritten. */
int nn_direct_ok(const nn_conv_shape *s);
/* Whether a conv's forward fills (and its backward reads) the patch matrix `rows`; u8_input
 * for the first layer's nn_conv2d_forward_u8. */
int nn_conv_uses_rows(const nn_conv_shape *s, int u8_input);
void nn_direct_pack_forward(float *pack, const float *wpat, const nn_conv_shape *s);
void nn_direct_forward_packed(float *out, const float *inp, const float *pack, const nn_conv_shape *s);
/* dweight also adds dout's row sums to dbias (OC) unless it is NULL. */
void nn_direct_dweight(float *dwpat, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s);
void nn_direct_pack_dinp(float *pack, const float *wpat, const nn_conv_shape *s);
void nn_direct_dinp_packed(float *dinp, const float *dout, const float *pack, const nn_conv_shape *s);
/* Shapes whose K*C is not a multiple of 16: the forward (nn_direct_forward_packed) takes
 * them as they are; the weight gradient vectorises over output channels instead:
 * dwt (K*K*C, OC) overwritten, rows in patch order, the transpose of nn_direct_dweight's. */
int nn_direct_cols_ok(const nn_conv_shape *s);
void nn_direct_dweight_cols(float *dwt, float *dbias, const float *dout, const float *inp, const nn_conv_shape *s);
/* pack_dinp then dinp_packed. */
void nn_direct_dinp(float *dinp, const float *dout, const float *wpat, float *pack, const nn_conv_shape *s);

#endif
