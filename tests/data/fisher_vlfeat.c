/* Generates tests/data/fisher_* with the system VLFeat 0.9.21 (libvlfeat-dev):
 *   gcc -O2 -o fv tests/data/fisher_vlfeat.c -lvl -lm
 *   ./fv ../shared/anchors/vlfeat/out/astronaut_dsift_s4_b8_flat.f32 tests/data */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vl/gmm.h>
#include <vl/fisher.h>
static float *load(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb"); fseek(f, 0, SEEK_END); long b = ftell(f); fseek(f, 0, SEEK_SET);
  float *v = malloc(b); if (fread(v, 1, b, f) != (size_t)b) exit(1); fclose(f); *n = b / 4; return v;
}
static void save(const char *p, const void *v, size_t bytes) { FILE *f = fopen(p, "wb"); fwrite(v, 1, bytes, f); fclose(f); }
int main(int argc, char **argv) {
  size_t n; float *X = load(argv[1], &n); int D = 128, K = 8; size_t N = 2000, NE = 500;
  vl_set_num_threads(1);
  VlGMM *g = vl_gmm_new(VL_TYPE_FLOAT, D, K);
  vl_gmm_set_initialization(g, VlGMMKMeans);
  vl_gmm_set_max_num_iterations(g, 10);
  vl_gmm_cluster(g, X, N);
  char p[512];
  snprintf(p, sizeof p, "%s/fisher_gmm_k8_means.f32", argv[2]); save(p, vl_gmm_get_means(g), 4 * K * D);
  snprintf(p, sizeof p, "%s/fisher_gmm_k8_covariances.f32", argv[2]); save(p, vl_gmm_get_covariances(g), 4 * K * D);
  snprintf(p, sizeof p, "%s/fisher_gmm_k8_priors.f32", argv[2]); save(p, vl_gmm_get_priors(g), 4 * K);
  float *enc = malloc(4 * 2 * K * D);
  int flags[2] = {0, VL_FISHER_FLAG_IMPROVED}; const char *fn[2] = {"plain", "improved"};
  for (int f = 0; f < 2; ++f) {
    vl_fisher_encode(enc, VL_TYPE_FLOAT, vl_gmm_get_means(g), D, K, vl_gmm_get_covariances(g), vl_gmm_get_priors(g), X + N * D, NE, flags[f]);
    snprintf(p, sizeof p, "%s/fisher_k8_%s.f32", argv[2], fn[f]); save(p, enc, 4 * 2 * K * D);
  }
  return 0;
}
