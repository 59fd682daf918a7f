// The controller's side of provider verification, pure: it makes seeded
// challenges from randomness the caller passes in, and judges answers. No
// I/O, no clock, no threads: the controller's shell measures time and draws
// randomness; this library only computes.
//
// Schemes (the challenge contract is in worker/challenges.h):
//  - matmul, n <= kMatmulFullResultMaxN (the answer carries C): C is hashed
//    row by row against the answer's commitment, every entry is range-checked
//    (|c| <= 64n), then Freivalds' check: for `freivalds_rounds` vectors r of
//    32-bit random integers, A(Br) == Cr in exact 128-bit integer arithmetic,
//    with A and B regenerated from the seed. A wrong C passes one round with
//    probability <= 2^-32 (for a row of AB - C that is non-zero, fix every r_j
//    but one with a non-zero coefficient: at most one value of it makes the
//    row vanish). Cost O(rounds * n^2).
//  - matmul, larger n (the answer carries only the n row digests and their
//    combined digest): `spot_rows` rows chosen at random are recomputed
//    exactly (A's rows from the seed times B streamed row by row from the
//    seed) and their digests compared. A node that computed a fraction f of
//    the rows correctly passes with probability about f^spot_rows; a single
//    wrong element is caught only with probability spot_rows / n, so use the
//    full-result size for admission and large sizes for speed.
//    Cost O(spot_rows * n^2).
//  - memory: chunk count and length must match the challenge; `spot_chunks`
//    random chunks, plus always the last (partial) one, are regenerated and
//    their SHA-256 compared.
//  - pow: the hash is recomputed from the nonce and its leading zero bits
//    counted.
//
// The random vectors and the rows and chunks checked come from
// VerifyOptions::check_seed, NOT from the challenge's seed: the node knows
// the seed, and a node that knows r can forge a C with Cr == ABr (two
// compensating wrong entries in a row). The controller must draw check_seed
// itself and never send it.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "worker/challenges.h"

namespace gm {

// Challenge sizes (configuration: `gm local up` uses small ones).
struct ChallengeSizes {
  int matmul_n = 256;                          // <= 256: full product, Freivalds
  int64_t memory_bytes = int64_t{256} << 20;   // host memory for declared nodes
  int pow_difficulty_bits = 20;                // about 10^6 hashes, well under a second
};

// A challenge of `kind` ("matmul", "memory", "pow") whose seed is derived
// from `rng_seed` (the caller's fresh randomness, e.g. 8 bytes of RandomHex)
// and the kind. Same inputs, same challenge. Errors: InvalidArgument (unknown
// kind, sizes out of the contract's bounds).
Result<ChallengeSpec> NewChallenge(const std::string& kind, uint64_t rng_seed, const ChallengeSizes& sizes);

struct VerifyOptions {
  // Secret randomness for the Freivalds vectors and the rows and chunks
  // spot-checked. Draw it fresh per answer; never send it to the node.
  uint64_t check_seed = 0;
  int freivalds_rounds = 2;  // matmul with full C; error <= 2^-32 per round
  int spot_rows = 8;         // matmul without full C
  int spot_chunks = 8;       // memory, besides the last chunk
  // Fastest plausible speed of the claimed hardware in TFLOPS (FP32 dense;
  // note that the product is exact even on FP16/INT8 tensor cores, so use the
  // fastest such figure of the claimed GPU). 0 = no bound.
  double max_tflops = 0;
  // Fastest plausible memory write+read-back, GB/s (10^9 bytes). 0 = no bound.
  double max_memory_gbps = 0;
  // The controller's measured time from sending the challenge to receiving
  // the answer. A claimed elapsed_ns above it is impossible. 0 = unknown.
  int64_t round_trip_ns = 0;
};

struct VerifyResult {
  bool passed = false;
  std::string reason;      // why it failed, or a one-line summary when it passed
  double tflops = 0;       // matmul: 2n^3 / elapsed, as claimed by the node
  int64_t elapsed_ns = 0;  // matmul and memory: as claimed by the node
};

// Judges `answer` to `spec`. Returns OK when the answer could be judged,
// with out->passed and out->reason saying how; a wrong product, wrong hash,
// wrong chunk count or an implausible speed is a failed verification, not an
// error. Errors: InvalidArgument naming the field for a malformed answer
// ("answer.row_sha256 is missing", "answer.n must be an integer", "answer.kind
// is 'pow', the challenge is 'matmul'") or an invalid spec; out->passed is
// then false and out->reason holds the message too.
Status VerifyAnswer(const ChallengeSpec& spec, const nlohmann::json& answer, const VerifyOptions& options,
                    VerifyResult* out);

// 2n^3 / elapsed_ns, in TFLOPS (10^12 floating-point operations per second).
double MatmulTflops(int n, int64_t elapsed_ns);

}  // namespace gm
