# Ed25519 node keys, canonical JSON and signed usage records (common/signing.h,
# common/usage_record.h). Shared by gmd (signs) and gmctld (checks).
add_library(gm_signing STATIC signing.cc usage_record.cc)
target_link_libraries(gm_signing PUBLIC gm_common)

gm_add_test(signing_test
  SOURCES signing_test.cc
  LIBS gm_signing
  LABELS unit)

gm_add_test(usage_record_test
  SOURCES usage_record_test.cc
  LIBS gm_signing
  LABELS unit)
