/* VLFeat dense SIFT on a raw float32 image: the peer side of scripts/sift_sidebyside.sh.
 * Own code; links VLFeat 0.9.21 (Debian libvlfeat-dev): gcc -O2 -o sift_vlfeat sift_vlfeat.c -lvl -lm
 *
 * usage: sift_vlfeat IMAGE.f32 W H STEP WINDOW(flat|gauss) WINDOW_SIZE SIZES REPEATS [OUT_PREFIX]
 *   SIZES: one bin size ("8") = plain vl_dsift on the image, full bounds;
 *          several ("4,6,8") = vl_phow-like: per size s, smooth with sigma = s/6 (MATLAB
 *          vl_imsmooth kernel: half-width ceil(4 sigma), normalised, edges replicated),
 *          bounds min = floor(1.5 (max - s)), descriptors with norm < 0.005 zeroed.
 *   REPEATS: timed runs after one untimed warm-up (filters created once, as in the anchors'
 *            dsift_bench.c); prints "vlfeat_ms <median wall ms> <median cpu ms> <n>".
 *   OUT_PREFIX: writes OUT_PREFIX.desc.f32 (N x 128) and OUT_PREFIX.frames.f32 (N x 4:
 *            x, y, bin size, norm), scale-major.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vl/dsift.h>
#include <vl/imopv.h>
#include <vl/mathop.h>

static double now_ms(clockid_t id)
{
  struct timespec t;
  clock_gettime(id, &t);
  return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
  if (argc < 9) {
    fprintf(stderr, "usage: %s IMAGE.f32 W H STEP flat|gauss WINDOW_SIZE SIZES REPEATS [OUT_PREFIX]\n", argv[0]);
    return 2;
  }
  vl_set_num_threads(1);
  int W = atoi(argv[2]), H = atoi(argv[3]), step = atoi(argv[4]);
  int flat = strcmp(argv[5], "flat") == 0;
  double wsize = atof(argv[6]);
  int sizes[16], ns = 0;
  for (char *tok = strtok(argv[7], ","); tok && ns < 16; tok = strtok(NULL, ",")) sizes[ns++] = atoi(tok);
  int R = atoi(argv[8]);
  if (R < 1) R = 1;
  int phow = ns > 1;

  float *im = malloc(sizeof(float) * W * H);
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(im, sizeof(float), (size_t)W * H, f) != (size_t)W * H) {
    fprintf(stderr, "cannot read %d x %d floats from %s\n", W, H, argv[1]);
    return 1;
  }
  fclose(f);

  int maxs = 0;
  for (int s = 0; s < ns; ++s) if (sizes[s] > maxs) maxs = sizes[s];
  VlDsiftFilter *fs[16];
  float *ks[16];
  int hws[16];
  for (int s = 0; s < ns; ++s) {
    fs[s] = vl_dsift_new_basic(W, H, step, sizes[s]);
    if (phow) {
      int off = (int)floor(1.5 * (maxs - sizes[s]));
      vl_dsift_set_bounds(fs[s], off, off, W - 1, H - 1);
      double sigma = sizes[s] / 6.0;
      int hw = (int)ceil(4.0 * sigma);
      float *k = malloc(sizeof(float) * (2 * hw + 1)), acc = 0;
      for (int j = 0; j < 2 * hw + 1; ++j) {
        float z = ((float)j - hw) / ((float)sigma + VL_EPSILON_F);
        k[j] = (float)exp(-0.5 * (z * z));
        acc += k[j];
      }
      for (int j = 0; j < 2 * hw + 1; ++j) k[j] /= acc;
      ks[s] = k;
      hws[s] = hw;
    }
    vl_dsift_set_flat_window(fs[s], flat);
    vl_dsift_set_window_size(fs[s], wsize);
  }
  float *sm = malloc(sizeof(float) * W * H), *tmp = malloc(sizeof(float) * W * H);
  double *tw = malloc(sizeof(double) * R), *tc = malloc(sizeof(double) * R);
  for (int r = -1; r < R; ++r) {
    double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    for (int s = 0; s < ns; ++s) {
      const float *src = im;
      if (phow) {
        vl_imconvcol_vf(tmp, H, im, W, H, W, ks[s], -hws[s], hws[s], 1,
                        VL_PAD_BY_CONTINUITY | VL_TRANSPOSE);
        vl_imconvcol_vf(sm, W, tmp, H, W, H, ks[s], -hws[s], hws[s], 1,
                        VL_PAD_BY_CONTINUITY | VL_TRANSPOSE);
        src = sm;
      }
      vl_dsift_process(fs[s], src);
      if (phow) {
        int n = vl_dsift_get_keypoint_num(fs[s]);
        const VlDsiftKeypoint *kp = vl_dsift_get_keypoints(fs[s]);
        float *d = (float *)vl_dsift_get_descriptors(fs[s]);
        for (int k = 0; k < n; ++k)
          if (kp[k].norm < 0.005) memset(d + (size_t)k * 128, 0, sizeof(float) * 128);
      }
    }
    if (r >= 0) {
      tw[r] = now_ms(CLOCK_MONOTONIC) - w0;
      tc[r] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
  }
  long ntot = 0;
  for (int s = 0; s < ns; ++s) ntot += vl_dsift_get_keypoint_num(fs[s]);
  printf("vlfeat_ms %.4f %.4f %ld\n", median(tw, R), median(tc, R), ntot);

  if (argc > 9) {
    char path[4096];
    snprintf(path, sizeof path, "%s.desc.f32", argv[9]);
    FILE *fd = fopen(path, "wb");
    snprintf(path, sizeof path, "%s.frames.f32", argv[9]);
    FILE *ff = fopen(path, "wb");
    if (!fd || !ff) { fprintf(stderr, "cannot write %s.*\n", argv[9]); return 1; }
    for (int s = 0; s < ns; ++s) {
      int n = vl_dsift_get_keypoint_num(fs[s]);
      const VlDsiftKeypoint *kp = vl_dsift_get_keypoints(fs[s]);
      fwrite(vl_dsift_get_descriptors(fs[s]), sizeof(float), (size_t)n * 128, fd);
      for (int k = 0; k < n; ++k) {
        float fr[4] = {(float)kp[k].x, (float)kp[k].y, (float)sizes[s], (float)kp[k].norm};
        fwrite(fr, sizeof(float), 4, ff);
      }
    }
    fclose(fd);
    fclose(ff);
  }
  for (int s = 0; s < ns; ++s) {
    vl_dsift_delete(fs[s]);
    if (phow) free(ks[s]);
  }
  free(im); free(sm); free(tmp); free(tw); free(tc);
  return 0;
}
