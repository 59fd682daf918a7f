// The audit trail: ledger transactions numbered 1, 2, 3, … and grouped into
// epochs; each epoch's SHA-256 Merkle root is chained to the previous epoch
// and signed by the controller. Anyone holding the transactions and the epoch
// headers can re-derive every balance and every root, check every signature,
// and prove that one transaction is in an epoch.
//
// Canonical encoding of a transaction (integers and strings only; frozen,
// version 1):
//     "GMTX" 0x01
//     i64(id) str(kind) str(ref) str(memo)
//     u32(number of entries)  then per entry, in stored order: str(account) i64(amount)
//   where i64 is a two's-complement 64-bit big-endian integer, u32 a 32-bit
//   big-endian integer, and str(s) = u32(byte length) ‖ the bytes of s.
// Hashes (RFC 6962 / RFC 9162 domain separation, so a leaf can never pass for
// an inner node):
//     leaf       = SHA-256(0x00 ‖ encoding)
//     inner node = SHA-256(0x01 ‖ left ‖ right)
//     merkle_root of leaves D[0..n): n = 1: D[0]; n > 1: k = the largest power
//       of two < n, node(root(D[0..k)), root(D[k..n)))
//     chain_root = SHA-256(0x02 ‖ prev_root ‖ merkle_root ‖ i64(number)
//                          ‖ i64(first_tx_id) ‖ i64(last_tx_id))
//   prev_root is the previous epoch's chain_root (32 zero bytes for epoch 1),
//   so the last chain_root commits to the whole history.
// The signature covers EpochMessage(epoch), a short text naming all of the
// above; the signer and the verifier are passed in (Ed25519 in gmctld).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/ledger.h"

namespace gm::acct {

// A transaction with the id the audit log gave it. `hash` is the leaf hash in
// hex as the store kept it; VerifyChain checks it when it is not empty.
struct LoggedTx {
  int64_t id = 0;
  Transaction tx;
  std::string hash;
};

struct Epoch {
  int64_t number = 0;        // 1, 2, 3, …
  int64_t first_tx_id = 0;   // the epoch holds transactions first…last, inclusive
  int64_t last_tx_id = 0;
  std::string merkle_root;   // hex
  std::string prev_root;     // hex: the previous epoch's chain_root, or 64 zeros
  std::string chain_root;    // hex
  std::string signature;     // what the signer returned for EpochMessage(*this)
};
void to_json(nlohmann::json& j, const Epoch& e);
void from_json(const nlohmann::json& j, Epoch& e);

inline const std::string kZeroRoot(64, '0');

// The bytes signed for an epoch: "gridmint-epoch/1\nnumber=…\nfirst_tx_id=…\n
// last_tx_id=…\nmerkle_root=…\nprev_root=…\nchain_root=…\n".
std::string EpochMessage(const Epoch& e);

// Signs a message (returns the signature as text, e.g. hex or base64).
using EpochSigner = std::function<std::string(const std::string& message)>;
// True when `signature` is a valid signature of `message`.
using EpochVerifier = std::function<bool(const std::string& message, const std::string& signature)>;

std::string EncodeTx(int64_t id, const Transaction& tx);  // the canonical encoding above
std::string LeafHashHex(int64_t id, const Transaction& tx);
// Merkle root (hex) of leaf hashes given in hex; InvalidArgument for a bad
// hash or no leaves.
Result<std::string> MerkleRootHex(const std::vector<std::string>& leaf_hashes);
// chain_root (hex) for the given header fields; InvalidArgument for bad hex.
Result<std::string> ChainRootHex(const std::string& prev_root, const std::string& merkle_root,
                                 int64_t number, int64_t first_tx_id, int64_t last_tx_id);

struct AuditConfig {
  int64_t epoch_max_txs = 1000;  // an epoch closes when it holds this many transactions
};

// Numbers transactions and closes epochs. Keeps the open epoch's leaf hashes
// and the last closed epoch; restart it with Restore.
class AuditLog {
 public:
  AuditLog(AuditConfig config, EpochSigner signer);
  ~AuditLog();
  AuditLog(AuditLog&&) noexcept;
  AuditLog& operator=(AuditLog&&) noexcept;

  struct Appended {
    LoggedTx logged;              // the id and leaf hash to store with the transaction
    std::optional<Epoch> closed;  // set when this transaction filled the epoch
  };
  // Gives `tx` the next id, hashes it, and closes the epoch when full.
  Appended Append(Transaction tx);
  // Closes the open epoch now ("time is up"); nullopt when it is empty.
  std::optional<Epoch> Close();

  int64_t next_tx_id() const;
  int64_t open_count() const;                 // transactions in the open epoch
  const std::vector<LoggedTx>& open_txs() const;  // those transactions
  const std::optional<Epoch>& last_epoch() const;

  // Resumes after a restart: the last closed epoch (none before the first)
  // and the transactions logged after it, in id order. InvalidArgument if
  // their ids do not follow the epoch, or an epoch's hex is malformed.
  Status Restore(const std::optional<Epoch>& last, const std::vector<LoggedTx>& open_txs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- inclusion proofs ----------------------------------------------------------------

struct InclusionProof {
  int64_t tx_id = 0;
  int64_t epoch = 0;
  int64_t index = 0;                // position of the transaction in its epoch
  int64_t size = 0;                 // transactions in the epoch
  std::string leaf_hash;            // hex
  std::vector<std::string> path;    // sibling hashes, hex, from the leaf up (RFC 9162 audit path)
  std::string merkle_root;          // hex: the epoch's root the path leads to
};
void to_json(nlohmann::json& j, const InclusionProof& p);
void from_json(const nlohmann::json& j, InclusionProof& p);

// The proof for `tx_id` in `epoch`, whose transactions are `epoch_txs` in id
// order. NotFound if the epoch does not hold tx_id; Corruption if the
// transactions do not hash to the epoch's merkle_root.
Result<InclusionProof> Prove(const Epoch& epoch, const std::vector<LoggedTx>& epoch_txs, int64_t tx_id);

// OK when `tx` (with id proof.tx_id) hashes to proof.leaf_hash and the path
// leads to `merkle_root`. Corruption naming the failing step otherwise.
Status VerifyProof(const InclusionProof& proof, const Transaction& tx, const std::string& merkle_root);

// The epoch as JSON for anchoring: header, signed message, signature, and per
// transaction its id, ref, leaf hash and proof path. Corruption if the
// transactions do not match the header.
Result<nlohmann::json> ExportEpoch(const Epoch& epoch, const std::vector<LoggedTx>& epoch_txs);

// ---- verification of the whole chain -----------------------------------------------

struct VerifyOptions {
  EpochVerifier verify;                                   // required
  const std::map<std::string, Micros>* stored_balances = nullptr;  // compared when given
  const std::map<std::string, Micros>* credit_limits = nullptr;    // default: none
  size_t max_problems = 20;
};

// One thing that does not hold. `check` (frozen) is one of:
//   "sequence"       ids not 1, 2, 3, … or epochs not numbered / not contiguous
//   "entries"        a malformed transaction (no entries, a zero or repeated
//                    entry, an invalid account, mint credited, burn debited)
//   "balance"        the entries do not sum to zero
//   "funds"          an account goes below minus its credit limit
//   "leaf_hash"      the stored hash is not the transaction's hash
//   "merkle_root"    the epoch's merkle_root is not its transactions' root
//   "chain"          prev_root is not the previous chain_root, or chain_root is wrong
//   "signature"      the signature does not verify
//   "stored_balance" a stored balance differs from the one re-derived
//   "supply"         minted − burned ≠ sum of balances
struct VerifyProblem {
  int64_t epoch = 0;      // 0: not in a sealed epoch (or not about one)
  int64_t tx_id = 0;      // 0: not about one transaction
  std::string account;    // for "funds" and "stored_balance"
  std::string check;
  std::string detail;
  std::string ToString() const;  // "epoch 3, transaction 2417: merkle_root: …"
};

struct VerifyReport {
  int64_t transactions = 0;
  int64_t epochs = 0;
  int64_t unsealed = 0;            // transactions after the last epoch
  SupplyReport supply;             // from the re-derived balances
  std::vector<VerifyProblem> problems;  // in the order found, at most max_problems
  bool truncated = false;          // more problems than max_problems
  bool ok() const { return problems.empty(); }
};

// Re-derives every balance from `txs` (all transactions, in id order), every
// leaf hash, Merkle root and chain root of `epochs` (all, in order), checks
// every signature, and compares the derived balances with the stored ones.
VerifyReport VerifyChain(const std::vector<LoggedTx>& txs, const std::vector<Epoch>& epochs,
                         const VerifyOptions& options);

}  // namespace gm::acct
