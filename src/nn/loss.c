/* loss.c: Huber (SmoothL1) and MSE losses with mean reduction, as torch.nn defines them. */
#include <math.h>

#include "smbrl/nn.h"

float nn_huber_loss(float *dpred, const float *pred, const float *target, int n, float beta)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        float ad = fabsf(d);
        if (ad < beta) {
            sum += 0.5 * (double)d * d / beta;
            if (dpred)
                dpred[i] = d / beta / (float)n;
        } else {
            sum += ad - 0.5 * beta;
            if (dpred)
                dpred[i] = (d > 0.0f ? 1.0f : -1.0f) / (float)n;
        }
    }
    return (float)(sum / n);
}

float nn_mse_loss(float *dpred, const float *pred, const float *target, int n)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float d = pred[i] - target[i];
        sum += (double)d * d;
        if (dpred)
            dpred[i] = 2.0f * d / (float)n;
    }
    return (float)(sum / n);
}
