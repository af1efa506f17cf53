/* Generates tests/data/homkermap_vlfeat.json with the system VLFeat 0.9.21 (libvlfeat-dev):
 *   gcc -O2 -o hkm tests/data/homkermap_vlfeat.c -lvl -lm && ./hkm > tests/data/homkermap_vlfeat.json */
#include <stdio.h>
#include <vl/homkermap.h>
int main(void) {
  const char *kn[3] = {"Intersection", "Chi2", "JensenShannon"};
  const char *wn[2] = {"Uniform", "Rectangular"};
  double xs[12] = {1e-4, 3e-4, 0.001, 0.0037, 0.01, 0.033, 0.1, 0.25, 0.5, 0.77, 1.0, 3.3};
  int orders[2] = {1, 3};
  printf("[\n");
  int first = 1;
  for (int k = 0; k < 3; ++k) for (int w = 0; w < 2; ++w) for (int o = 0; o < 2; ++o) {
    VlHomogeneousKernelMap *m = vl_homogeneouskernelmap_new(k, 1.0, orders[o], -1, w);
    int dim = 2 * orders[o] + 1;
    for (int i = 0; i < 12; ++i) {
      double out[7];
      vl_homogeneouskernelmap_evaluate_d(m, out, 1, xs[i]);
      printf("%s{\"kernel\":\"%s\",\"window\":\"%s\",\"order\":%d,\"x\":%.17g,\"psi\":[", first ? "" : ",\n", kn[k], wn[w], orders[o], xs[i]);
      first = 0;
      for (int j = 0; j < dim; ++j) printf("%s%.17g", j ? "," : "", out[j]);
      printf("]}");
    }
    vl_homogeneouskernelmap_delete(m);
  }
  printf("\n]\n");
  return 0;
}
