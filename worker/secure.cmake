# Verification challenges (solver), job isolation (cgroups, bubblewrap, the
# job user) and the durable usage spool: worker/challenges.h,
# worker/isolation.h, worker/spool.h.
add_library(gm_worker_secure STATIC challenges.cc isolation.cc spool.cc)
target_link_libraries(gm_worker_secure PUBLIC gm_worker_exec gm_common gm_signing)
# The CPU matrix kernel is the node's measured speed: let the compiler
# vectorise it (-O2 in GCC 12 vectorises only loops with no remainder).
set_source_files_properties(challenges.cc PROPERTIES COMPILE_OPTIONS "-O3")

gm_add_test(challenges_test
  SOURCES challenges_test.cc
  LIBS gm_worker_secure
  LABELS unit)

gm_add_test(isolation_test
  SOURCES isolation_test.cc
  LIBS gm_worker_secure
  LABELS unit)

gm_add_test(spool_test
  SOURCES spool_test.cc
  LIBS gm_worker_secure
  LABELS unit)
