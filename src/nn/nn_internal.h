/* nn_internal.h: kernels shared between the files of src/nn, not part of the public API. */
#ifndef SMBRL_NN_INTERNAL_H
#define SMBRL_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/nn.h"

/* out (rows, n) += bias (n), then max(., 0) when relu: the epilogue of every GEMM layer, so
 * that a following ReLU costs no extra pass over the activations. */
void nn_bias_act(float *out, const float *bias, size_t rows, int n, int relu);

/* The public forwards with that epilogue choice. */
void nn_conv2d_forward_act(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                           const float *bias, const nn_conv_shape *s, int relu);
void nn_conv2d_forward_u8_act(float *out, float *rows, float *scratch, float *wperm, const uint8_t *inp,
                              const float *weight, const float *bias, const nn_conv_shape *s, int relu);
void nn_linear_forward_act(float *out, const float *inp, const float *weight, const float *bias, int B,
                           int IN, int OUT, int relu);

#endif
