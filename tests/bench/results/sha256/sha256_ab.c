/* The portable SHA-256 of io/sha256.c at 884b5e8 against libcrypto's EVP
 * SHA-256 (sha256_ab.sh builds it): MB/s over 64 MiB in 16 KiB pieces, and
 * 10,000 bodies of 20 kB each with a context made and freed per body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include "sha256.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(void){
  size_t n=64u<<20, piece=16384; unsigned char *d=malloc(n); for(size_t i=0;i<n;i++) d[i]=(unsigned char)(i*2654435761u>>13);
  uint8_t a[32], b[32]; unsigned bl;
  for(int r=0;r<3;r++){
  double t0=now(); struct io__sha256_ctx c; io__sha256_init(&c); for(size_t o=0;o<n;o+=piece) io__sha256_update(&c,d+o,piece); io__sha256_final(&c,a);
  double t1=now(); EVP_MD_CTX *e=EVP_MD_CTX_new(); EVP_DigestInit_ex(e,EVP_sha256(),NULL); for(size_t o=0;o<n;o+=piece) EVP_DigestUpdate(e,d+o,piece); EVP_DigestFinal_ex(e,b,&bl); EVP_MD_CTX_free(e);
  double t2=now();
  /* per-body cost: 20 kB bodies, ctx new/free each */
  double t3=now(); for(int k=0;k<10000;k++){EVP_MD_CTX *f=EVP_MD_CTX_new(); EVP_DigestInit_ex(f,EVP_sha256(),NULL); EVP_DigestUpdate(f,d+k,20000); EVP_DigestFinal_ex(f,b,&bl); EVP_MD_CTX_free(f);} double t4=now();
  for(int k=0;k<10000;k++){struct io__sha256_ctx g; io__sha256_init(&g); io__sha256_update(&g,d+k,20000); io__sha256_final(&g,a);} double t5=now();
  printf("ours %.0f MB/s, openssl %.0f MB/s, differ=%d; 10000 x 20kB: openssl %.1f ms, ours %.1f ms\n", n/1e6/(t1-t0), n/1e6/(t2-t1), memcmp(a,b,32)==0 ? 0:1, (t4-t3)*1e3,(t5-t4)*1e3);
  }
}
