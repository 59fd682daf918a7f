# Pure verification of providers' challenge answers (scheduler/verify.h):
# no I/O, no clock, no threads. The challenge contract it shares with gmd is
# header-only (worker/challenges.h), so nothing of the worker is linked.
add_library(gm_verify STATIC verify.cc)
target_link_libraries(gm_verify PUBLIC gm_base gm_signing)

gm_add_test(verify_test
  SOURCES verify_test.cc
  LIBS gm_verify gm_worker_secure
  LABELS unit)
