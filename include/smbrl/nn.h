/* nn.h: a small CPU neural-network library for the Q-networks (layers, losses, optimizers, models).
 *
 * Letters used in shape comments: B batch, C/OC input/output channels, H/W and OH/OW
 * input/output height and width, K kernel size, S stride, P padding, IN/OUT features,
 * A actions, N a flat element count.
 *
 * Layouts. Observations are uint8 (B,C,H,W), channel first, as PyTorch sees them.
 * Convolutions read NCHW or NHWC and always write NHWC (B,OH,OW,OC): a patch is then a few
 * contiguous runs of the input, and the product with the weights (a direct kernel that
 * reads the runs in place, or im2row + one large GEMM) is already the next layer's input,
 * with no transposes between convolutions. The first convolution reads the bytes itself
 * (scaled by 1/255 on the way). Flatten turns NHWC back into PyTorch's (C,H,W) order, so
 * Linear weights keep PyTorch's layout and every parameter tensor is stored exactly as the
 * PyTorch module stores it.
 *
 * Memory. A model's parameters live in one contiguous float buffer (`params`), its
 * gradients in another of the same layout (`grads`); optimizer moments are further
 * buffers of the same layout owned by the caller. `param_table` names each tensor
 * view (PyTorch-style names such as "0.weight"; prefix them with "online." for the
 * tutorial's MarioNet), so a checkpoint is the table plus one write, and a target
 * sync is one memcpy. Activations live in a separate nn_work, so two models that run
 * one after the other (online and target) can share one.
 *
 * Conventions (as llm.c): arguments go outputs, inputs, weights, sizes. Backward
 * passes ACCUMULATE (+=) into parameter gradients (nn_zero_grad is its own call) and
 * OVERWRITE input gradients (each activation has exactly one consumer in a layer list). */
#ifndef SMBRL_NN_H
#define SMBRL_NN_H

#include <stddef.h>
#include <stdint.h>

#include "smbrl/rng.h"

/* ---- threads ---------------------------------------------------------------------- */

/* BLAS threads for this process (openblas_set_num_threads): 1 when several worker
 * processes share the cores. */
void nn_set_threads(int n);
/* The OpenBLAS kernel in use ("Zen", "Haswell", ...), for benchmark reports. */
const char *nn_blas_corename(void);

/* ---- layers ----------------------------------------------------------------------- */

/* out (N) = inp (N) / 255 */
void nn_input_u8_forward(float *out, const uint8_t *inp, size_t n);

/* Geometry of one 2-D convolution. nhwc_in says how `inp` is laid out; the output is
 * always NHWC (B,OH,OW,OC). weight is (OC,C,K,K), PyTorch's order, whatever the layout. */
typedef struct nn_conv_shape {
    int B, C, H, W;      /* input */
    int OC, K, S, P;     /* filters, kernel, stride, zero padding */
    int OH, OW;          /* (H + 2P - K) / S + 1, filled by nn_conv_shape_init */
    int nhwc_in;         /* 0: inp is (B,C,H,W); 1: inp is (B,H,W,C) */
} nn_conv_shape;
void nn_conv_shape_init(nn_conv_shape *s, int B, int C, int H, int W, int OC, int K, int S, int P,
                        int nhwc_in);
/* Scratch floats the fast conv needs: the patch matrix, a permuted weight copy and its gradient. */
size_t nn_conv_rows_floats(const nn_conv_shape *s);
size_t nn_conv_wperm_floats(const nn_conv_shape *s);

/* Fast paths. NHWC input with OC and K*C multiples of 16, on a CPU with AVX2 + FMA: kernels
 * that read each patch in place (src/nn/conv_direct.c); with padding they read a copy of the
 * input with its zero border written out, which the forward leaves in rows (B, H+2P, W+2P, C)
 * for the backward. Otherwise im2row + cblas_sgemm: rows (B*OH*OW, K*K*C) is the patch
 * matrix. Either way rows is scratch the forward fills and the backward reads again (keep it
 * between the two calls; the unpadded direct path leaves it alone).
 * wperm: nn_conv_wperm_floats scratch floats.
 * out (B,OH,OW,OC); inp as s->nhwc_in says; weight (OC,C,K,K); bias (OC). */
void nn_conv2d_forward(float *out, float *rows, float *wperm, const float *inp, const float *weight,
                       const float *bias, const nn_conv_shape *s);
/* The same for a first layer: inp is uint8 NCHW observations (s->nhwc_in must be 0), read
 * as v / 255 into scratch (nn_conv_u8_scratch_floats floats; 0 when unused), never into a
 * full-size float copy of the batch's input layer. A kernel that is a multiple of the stride,
 * without padding (MarioNet's 8x8/4), reads a space-to-depth copy; other shapes (the PPO
 * trunk's 3x3/2 pad 1) a float NHWC copy with its zero border, when the direct kernels
 * take it. The matching backward is nn_conv2d_backward_u8. wperm as above. */
size_t nn_conv_u8_scratch_floats(const nn_conv_shape *s);
void nn_conv2d_forward_u8(float *out, float *rows, float *scratch, float *wperm, const uint8_t *inp,
                          const float *weight, const float *bias, const nn_conv_shape *s);
/* Weight and bias gradients (accumulated) of nn_conv2d_forward_u8; no input gradient.
 * rows and scratch as that forward left them. */
void nn_conv2d_backward_u8(float *dweight, float *dbias, float *dwperm, const float *dout,
                           const float *rows, const float *scratch, const nn_conv_shape *s);
/* dinp (layout of inp; NULL skips it, as for a first layer fed by observations) is
 * overwritten; dweight (OC,C,K,K) and dbias (OC) accumulate. dout (B,OH,OW,OC).
 * drows needs nn_conv_rows_floats floats when dinp is wanted; wperm and dwperm need
 * nn_conv_wperm_floats floats each. rows holds the patches of the matching forward, inp
 * its input (the direct path reads the patches from there). */
void nn_conv2d_backward(float *dinp, float *dweight, float *dbias, float *drows, float *wperm,
                        float *dwperm, const float *dout, const float *rows, const float *inp,
                        const float *weight, const nn_conv_shape *s);
/* Which of the paths above a conv takes on this CPU: "direct", "padded direct", "padded NHWC
 * direct" (uint8 input), "space-to-depth direct", "space-to-depth im2row" or "im2row";
 * u8_input for nn_conv2d_forward_u8. For tests and benchmark reports. */
const char *nn_conv_path(const nn_conv_shape *s, int u8_input);
/* Reference: direct loops in double precision, same layouts and semantics as above. */
void nn_conv2d_forward_ref(float *out, const float *inp, const float *weight, const float *bias,
                           const nn_conv_shape *s);
void nn_conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, const nn_conv_shape *s);

/* out (B,OUT) = inp (B,IN) weight^T + bias; weight (OUT,IN), bias (OUT). */
void nn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                       int IN, int OUT);
/* dinp (B,IN) overwritten (NULL skips); dweight, dbias accumulate. */
void nn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int IN, int OUT);

void nn_relu_forward(float *out, const float *inp, size_t n);
/* dinp (N) = dout where out > 0, else 0. */
void nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n);

/* NHWC (B,H,W,C) <-> flat (B, C*H*W) in PyTorch's (C,H,W) order. */
void nn_flatten_nhwc_forward(float *out, const float *inp, int B, int C, int H, int W);
void nn_flatten_nhwc_backward(float *dinp, const float *dout, int B, int C, int H, int W);

/* Dueling head: q (B,A) = v + a - mean_j a_j, from the A advantages and the value.
 * va (B,A+1) holds the advantages then the value (one linear layer of A+1 outputs). */
void nn_dueling_forward(float *q, const float *va, int B, int A);
void nn_dueling_backward(float *dva, const float *dq, int B, int A);

/* ---- losses ----------------------------------------------------------------------- */
/* Mean over N elements. dpred (N) is overwritten with d(loss)/d(pred); NULL skips it. */

/* PyTorch's SmoothL1Loss / HuberLoss with beta (delta) 1: 0.5 d^2 if |d| < beta, else |d| - 0.5 beta. */
float nn_huber_loss(float *dpred, const float *pred, const float *target, int n, float beta);
float nn_mse_loss(float *dpred, const float *pred, const float *target, int n);

/* ---- optimizers ------------------------------------------------------------------- */

/* Scales grads in place so that their L2 norm is at most max_norm (torch's
 * clip_grad_norm_: coefficient max_norm / (norm + 1e-6) when below 1). Returns the norm. */
float nn_clip_grad_norm(float *grads, size_t n, float max_norm);

typedef struct nn_adam_config {
    float lr;            /* 0.00025 in the tutorial */
    float beta1, beta2;  /* 0.9, 0.999 */
    float eps;           /* 1e-8, added after the square root */
    float weight_decay;  /* 0: PyTorch's L2 term added to the gradient */
    float max_grad_norm; /* 0: no clipping; else clip_grad_norm_ before the step */
} nn_adam_config;
void nn_adam_config_default(nn_adam_config *c);
/* One torch.optim.Adam step (amsgrad off) on any N-float parameter buffer with moment
 * buffers m, v of the same layout; *step counts steps taken (0 before the first) and is
 * incremented. grads may be scaled in place by clipping. */
void nn_adam_step(const nn_adam_config *c, float *params, float *grads, float *m, float *v,
                  int64_t *step, size_t n);
/* The same, the buffers split over `threads` threads (the caller's and threads - 1 started). */
void nn_adam_step_threads(const nn_adam_config *c, float *params, float *grads, float *m, float *v,
                          int64_t *step, size_t n, int threads);

typedef struct nn_rmsprop_config {
    float lr;            /* 0.01 in PyTorch */
    float alpha;         /* 0.99 */
    float eps;           /* 1e-8, added after the square root */
    float max_grad_norm; /* 0: no clipping */
} nn_rmsprop_config;
void nn_rmsprop_config_default(nn_rmsprop_config *c);
/* One torch.optim.RMSprop step (no momentum, not centred); sq is the running mean square. */
void nn_rmsprop_step(const nn_rmsprop_config *c, float *params, float *grads, float *sq, size_t n);

/* ---- models ----------------------------------------------------------------------- */

typedef enum nn_kind {
    NN_INPUT_U8,     /* first layer: uint8 (C,H,W) scaled by 1/255 */
    NN_CONV2D,       /* out = channels, kernel, stride, pad */
    NN_RELU,
    NN_FLATTEN,      /* to (C*H*W), PyTorch order */
    NN_LINEAR,       /* out = features */
    NN_DUELING,      /* out = actions; parameters: a linear to A advantages + 1 value */
    NN_POLICY_VALUE, /* out = actions; (B, A+1): policy logits then the state value */
} nn_kind;

typedef struct nn_layer_spec {
    nn_kind kind;
    int out;                 /* channels (conv) or features (linear, heads) */
    int kernel, stride, pad; /* conv only */
} nn_layer_spec;

#define NN_MAX_LAYERS 24
#define NN_MAX_TENSORS 32

/* A model description: the input shape and a list of layers. */
typedef struct nn_spec {
    int in_c, in_h, in_w;
    int num_layers;
    nn_layer_spec layers[NN_MAX_LAYERS];
} nn_spec;

void nn_spec_init(nn_spec *s, int in_c, int in_h, int in_w);
/* Appends a layer; returns a negative value when the list is full. */
int nn_spec_add(nn_spec *s, nn_kind kind, int out, int kernel, int stride, int pad);
/* The tutorial's MarioNet (Nature-DQN): conv 32 8/4, conv 64 4/2, conv 64 3/1, fc 512, fc A,
 * for (in_c,in_h,in_w) = (4,84,84); dueling replaces the last fc by a dueling head. */
void nn_spec_marionet(nn_spec *s, int in_c, int in_h, int in_w, int actions, int dueling);
/* MarioNet without its head: the Nature-DQN trunk up to fc 512 + ReLU, for other heads. */
void nn_spec_nature_trunk(nn_spec *s, int in_c, int in_h, int in_w);
/* A multilayer perceptron over uint8 feature vectors (in_features,1,1). */
void nn_spec_mlp(nn_spec *s, int in_features, const int *hidden, int num_hidden, int actions);
/* The small PPO trunk: 4 x (conv 32 3x3 stride 2 pad 1, ReLU), flatten, then the
 * policy + value head. */
void nn_spec_ppo(nn_spec *s, int in_c, int in_h, int in_w, int actions);

/* One named parameter tensor: a view into params/grads at [offset, offset+count). */
typedef struct nn_param_info {
    char name[40];  /* "<torch Sequential index>.weight": the input layer has no index, so
                       MarioNet's are 0,2,4,7,9 exactly as in the tutorial's nn.Sequential */
    int ndim;
    int shape[4];
    size_t offset, count;
} nn_param_info;

/* Resolved shapes of one layer. */
typedef struct nn_layer {
    nn_layer_spec spec;
    int in_c, in_h, in_w, in_layout;     /* layout: NN_LAYOUT_* */
    int out_c, out_h, out_w, out_layout;
    size_t in_numel, out_numel;          /* per sample */
    size_t weight_offset, bias_offset;   /* into params; conv, linear and heads */
} nn_layer;

enum { NN_LAYOUT_NCHW = 0, NN_LAYOUT_NHWC = 1, NN_LAYOUT_FLAT = 2 };

typedef struct nn_model {
    nn_spec spec;
    nn_layer layers[NN_MAX_LAYERS];
    int num_tensors;
    nn_param_info param_table[NN_MAX_TENSORS];
    size_t num_params;
    int out_dim;       /* floats per sample of the output */
    float *params;     /* num_params: all weights, in param_table's order */
    float *grads;      /* num_params, same layout */
} nn_model;

/* Validates the spec and allocates params and grads (zeroed). */
int nn_model_init(nn_model *m, const nn_spec *spec, char *err, size_t errlen);
void nn_model_free(nn_model *m);
/* PyTorch's default initialisation of Conv2d and Linear: weights kaiming_uniform(a=sqrt 5),
 * i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases the same bound. */
void nn_model_init_params(nn_model *m, rng *r);
void nn_zero_grad(nn_model *m);
/* dst's parameters = src's (same spec): one memcpy. */
void nn_copy_params(nn_model *dst, const nn_model *src);
/* Index of the tensor named `name` in param_table, or -1. */
int nn_find_param(const nn_model *m, const char *name);

#define NN_MAX_THREADS 16

/* Activations and scratch for batches up to max_batch. Every buffer is batch-major, so
 * threads that split a batch work on disjoint slices of the same buffers. */
typedef struct nn_work {
    int max_batch;
    int batch;             /* batch of the last forward */
    int threads;           /* threads a batch is split over (1: the caller's thread only) */
    float *acts[NN_MAX_LAYERS];  /* output of each layer (max_batch * out_numel) */
    float *rows[NN_MAX_LAYERS];  /* conv patch matrices (im2row path only), kept for backward */
    float *grad_a, *grad_b;      /* ping-pong activation gradients, grad_stride per sample */
    float *drows;                /* conv patch gradients, drows_stride per sample */
    float *scratch;              /* first conv's space-to-depth input, scratch_stride per sample */
    size_t grad_stride, drows_stride, scratch_stride, wperm_floats;
    float *wperm, *dwperm;       /* conv weight scratch, wperm_floats per thread */
    float *thread_grads;         /* (threads - 1) x num_params: the other threads' gradients */
    float *block;                /* the one allocation all of the above point into */
} nn_work;

/* threads > 1 splits each batch into that many slices, one per thread (the caller's plus
 * threads - 1 started per call), each calling BLAS itself: run BLAS single-threaded then
 * (nn_set_threads(1)). The result does not depend on the thread count beyond float rounding
 * of the gradient sum. */
int nn_work_init(nn_work *w, const nn_model *m, int max_batch, int threads, char *err, size_t errlen);
void nn_work_free(nn_work *w);

/* Forward pass of B observations (B,in_c,in_h,in_w); returns the output (B,out_dim)
 * inside w, valid until the next forward with w. NULL when B > max_batch or B < 1. */
const float *nn_forward(const nn_model *m, nn_work *w, const uint8_t *obs, int B);
/* Backward of the last forward with w: dout (B,out_dim); gradients accumulate in m->grads. */
void nn_backward(nn_model *m, nn_work *w, const float *dout);
/* Backward of the first B samples of the last forward (B <= its batch): activations are
 * batch-major, so one forward of [s; s'] serves a backward of s alone. dout (B,out_dim). */
void nn_backward_batch(nn_model *m, nn_work *w, const float *dout, int B);

#endif
