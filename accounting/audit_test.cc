// Tests of the audit trail: the canonical encoding, RFC 6962 Merkle roots
// (against an independent recursive implementation), chained signed epochs,
// inclusion proofs, export, whole-chain verification and tamper detection.
#include "accounting/audit.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "accounting/ed25519_for_tests.h"

namespace gm::acct {
namespace {

// ---- an independent reference implementation of the documented hashing -------------

std::string RawSha256(const std::string& bytes) {
  unsigned char out[32];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), out, &len, EVP_sha256(), nullptr), 1);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string Hex(const std::string& raw) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : raw) {
    h += d[c >> 4];
    h += d[c & 15];
  }
  return h;
}

std::string Be(uint64_t v, int bytes) {
  std::string s(bytes, '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}

std::string Str(const std::string& s) { return Be(s.size(), 4) + s; }

// Recursive MTH of RFC 6962 §2.1 over raw leaf hashes.
std::string Mth(const std::vector<std::string>& leaves, size_t lo, size_t hi) {
  if (hi - lo == 1) return leaves[lo];
  size_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return RawSha256(std::string(1, '\x01') + Mth(leaves, lo, lo + k) + Mth(leaves, lo + k, hi));
}

std::string Unhex(const std::string& h) {
  std::string raw;
  for (size_t i = 0; i < h.size(); i += 2) raw += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return raw;
}

Transaction Pay(int i) {
  return Transaction{"pay", "p" + std::to_string(i), "payment " + std::to_string(i),
                     {{"user:a", -(i + 1)}, {"provider:p" + std::to_string(i % 3), i + 1}}};
}

// ---- encoding and hashes --------------------------------------------------------------

TEST(AuditEncodingTest, TheDocumentedBytes) {
  Transaction tx{"usage", "usage:7:n1:3", "memo", {{"escrow:7", -100}, {"provider:p", 92}, {"burn", 8}}};
  std::string want = std::string("GMTX\x01", 5) + Be(42, 8) + Str("usage") + Str("usage:7:n1:3") + Str("memo") +
                     Be(3, 4) + Str("escrow:7") + Be(static_cast<uint64_t>(-100), 8) + Str("provider:p") +
                     Be(92, 8) + Str("burn") + Be(8, 8);
  EXPECT_EQ(EncodeTx(42, tx), want);
  EXPECT_EQ(LeafHashHex(42, tx), Hex(RawSha256(std::string(1, '\0') + want)));
  // Every field is bound: the id, the order of entries, the memo.
  EXPECT_NE(LeafHashHex(43, tx), LeafHashHex(42, tx));
  Transaction swapped = tx;
  std::swap(swapped.entries[1], swapped.entries[2]);
  EXPECT_NE(LeafHashHex(42, swapped), LeafHashHex(42, tx));
  Transaction memo = tx;
  memo.memo = "memO";
  EXPECT_NE(LeafHashHex(42, memo), LeafHashHex(42, tx));
}

TEST(AuditEncodingTest, MerkleRootIsRfc6962ForEverySize) {
  for (size_t n = 1; n <= 33; ++n) {
    std::vector<std::string> raw, hex;
    for (size_t i = 0; i < n; ++i) {
      hex.push_back(LeafHashHex(static_cast<int64_t>(i + 1), Pay(static_cast<int>(i))));
      raw.push_back(Unhex(hex.back()));
    }
    auto root = MerkleRootHex(hex);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, Hex(Mth(raw, 0, n))) << n;
  }
  EXPECT_FALSE(MerkleRootHex({}).ok());
  EXPECT_FALSE(MerkleRootHex({"xyz"}).ok());
}

// ---- the log ----------------------------------------------------------------------------

TEST(AuditLogTest, ClosesEveryNTransactionsChainsAndSigns) {
  TestEd25519 key;
  AuditLog log(AuditConfig{4}, key.signer());
  std::vector<Epoch> epochs;
  std::vector<std::string> leaves;
  for (int i = 0; i < 10; ++i) {
    auto a = log.Append(Pay(i));
    EXPECT_EQ(a.logged.id, i + 1);
    EXPECT_EQ(a.logged.hash, LeafHashHex(i + 1, Pay(i)));
    leaves.push_back(Unhex(a.logged.hash));
    EXPECT_EQ(a.closed.has_value(), (i + 1) % 4 == 0) << i;
    if (a.closed) epochs.push_back(*a.closed);
  }
  EXPECT_EQ(log.open_count(), 2);
  auto last = log.Close();  // time is up
  ASSERT_TRUE(last.has_value());
  epochs.push_back(*last);
  EXPECT_FALSE(log.Close().has_value());  // nothing open: no empty epoch
  ASSERT_EQ(epochs.size(), 3u);
  std::string prev(32, '\0');
  int64_t first = 1;
  for (size_t k = 0; k < epochs.size(); ++k) {
    const Epoch& e = epochs[k];
    EXPECT_EQ(e.number, static_cast<int64_t>(k + 1));
    EXPECT_EQ(e.first_tx_id, first);
    EXPECT_EQ(e.last_tx_id, std::min<int64_t>(first + 3, 10));
    std::vector<std::string> mine(leaves.begin() + e.first_tx_id - 1, leaves.begin() + e.last_tx_id);
    std::string merkle = Mth(mine, 0, mine.size());
    EXPECT_EQ(e.merkle_root, Hex(merkle));
    EXPECT_EQ(e.prev_root, Hex(prev));
    std::string chain = RawSha256(std::string(1, '\x02') + prev + merkle + Be(e.number, 8) +
                                  Be(e.first_tx_id, 8) + Be(e.last_tx_id, 8));
    EXPECT_EQ(e.chain_root, Hex(chain));
    EXPECT_TRUE(key.Verify(EpochMessage(e), e.signature));
    EXPECT_NE(EpochMessage(e).find("merkle_root=" + e.merkle_root), std::string::npos);
    prev = chain;
    first = e.last_tx_id + 1;
  }
  EXPECT_EQ(log.next_tx_id(), 11);
}

TEST(AuditLogTest, RestoreContinuesExactlyWhereItStopped) {
  TestEd25519 key;
  AuditLog straight(AuditConfig{5}, key.signer());
  AuditLog first(AuditConfig{5}, key.signer());
  std::vector<LoggedTx> open;
  std::optional<Epoch> last;
  for (int i = 0; i < 7; ++i) {
    straight.Append(Pay(i));
    auto a = first.Append(Pay(i));
    open.push_back(a.logged);
    if (a.closed) {
      last = a.closed;
      open.clear();
    }
  }
  AuditLog resumed(AuditConfig{5}, key.signer());
  ASSERT_TRUE(resumed.Restore(last, open).ok());
  EXPECT_EQ(resumed.next_tx_id(), 8);
  for (int i = 7; i < 12; ++i) {
    auto a = straight.Append(Pay(i));
    auto b = resumed.Append(Pay(i));
    EXPECT_EQ(a.logged.hash, b.logged.hash);
    ASSERT_EQ(a.closed.has_value(), b.closed.has_value());
    if (a.closed) {
      EXPECT_EQ(a.closed->chain_root, b.closed->chain_root);
    }
  }
  open[0].id = 99;
  EXPECT_EQ(AuditLog(AuditConfig{5}, nullptr).Restore(last, open).code(), Status::Code::kInvalidArgument);
}

// ---- proofs and export ----------------------------------------------------------------

struct Sealed {
  Epoch epoch;
  std::vector<LoggedTx> txs;
};

Sealed SealOne(int size, const TestEd25519& key) {
  AuditLog log(AuditConfig{size}, key.signer());
  Sealed s;
  for (int i = 0; i < size; ++i) {
    auto a = log.Append(Pay(i));
    s.txs.push_back(a.logged);
    if (a.closed) s.epoch = *a.closed;
  }
  return s;
}

TEST(ProofTest, EveryTransactionOfEverySizeProvesAndTamperingFails) {
  TestEd25519 key;
  for (int size = 1; size <= 17; ++size) {
    Sealed s = SealOne(size, key);
    for (const auto& t : s.txs) {
      auto p = Prove(s.epoch, s.txs, t.id);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_EQ(p->index, t.id - 1);
      EXPECT_EQ(p->size, size);
      EXPECT_TRUE(VerifyProof(*p, t.tx, s.epoch.merkle_root).ok()) << size << " " << t.id;
      Transaction forged = t.tx;
      forged.entries[0].amount -= 1;
      EXPECT_EQ(VerifyProof(*p, forged, s.epoch.merkle_root).code(), Status::Code::kCorruption);
      if (!p->path.empty()) {
        InclusionProof bad = *p;
        bad.path[0][5] = bad.path[0][5] == '0' ? '1' : '0';
        EXPECT_FALSE(VerifyProof(bad, t.tx, s.epoch.merkle_root).ok());
        bad = *p;
        bad.path.pop_back();
        EXPECT_FALSE(VerifyProof(bad, t.tx, s.epoch.merkle_root).ok());
      }
      if (size > 1) {
        InclusionProof moved = *p;
        moved.index = (p->index + 1) % size;
        EXPECT_FALSE(VerifyProof(moved, t.tx, s.epoch.merkle_root).ok());
      }
      EXPECT_FALSE(VerifyProof(*p, t.tx, kZeroRoot).ok());
    }
    EXPECT_EQ(Prove(s.epoch, s.txs, size + 1).status().code(), Status::Code::kNotFound);
  }
}

TEST(ProofTest, ProveRefusesTransactionsThatDoNotMatchTheRoot) {
  TestEd25519 key;
  Sealed s = SealOne(6, key);
  s.txs[2].tx.memo = "changed";
  EXPECT_EQ(Prove(s.epoch, s.txs, 1).status().code(), Status::Code::kCorruption);
}

TEST(ProofTest, ProofsRoundTripThroughJson) {
  TestEd25519 key;
  Sealed s = SealOne(5, key);
  auto p = Prove(s.epoch, s.txs, 3);
  nlohmann::json j = *p;
  InclusionProof back = j.get<InclusionProof>();
  EXPECT_TRUE(VerifyProof(back, s.txs[2].tx, s.epoch.merkle_root).ok());
}

TEST(ExportTest, EpochJsonCarriesHeaderSignatureAndEveryProof) {
  TestEd25519 key;
  Sealed s = SealOne(7, key);
  auto j = ExportEpoch(s.epoch, s.txs);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["number"], 1);
  EXPECT_EQ((*j)["merkle_root"], s.epoch.merkle_root);
  EXPECT_EQ((*j)["prev_root"], kZeroRoot);
  EXPECT_EQ((*j)["chain_root"], s.epoch.chain_root);
  EXPECT_EQ((*j)["signature"], s.epoch.signature);
  EXPECT_TRUE(key.Verify((*j)["signed_message"].get<std::string>(), (*j)["signature"].get<std::string>()));
  ASSERT_EQ((*j)["transactions"].size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    const auto& t = (*j)["transactions"][i];
    auto p = Prove(s.epoch, s.txs, s.txs[i].id);
    EXPECT_EQ(t["tx_id"], s.txs[i].id);
    EXPECT_EQ(t["ref"], s.txs[i].tx.ref);
    EXPECT_EQ(t["leaf_hash"], p->leaf_hash);
    EXPECT_EQ(t["path"].get<std::vector<std::string>>(), p->path);
  }
  nlohmann::json header = *j;
  EXPECT_EQ(header.get<Epoch>().chain_root, s.epoch.chain_root);
  s.txs.pop_back();
  EXPECT_EQ(ExportEpoch(s.epoch, s.txs).status().code(), Status::Code::kCorruption);
}

// ---- verification of the chain ---------------------------------------------------------

struct Chain {
  std::vector<LoggedTx> txs;
  std::vector<Epoch> epochs;
  std::map<std::string, Micros> balances;
};

Chain MakeChain(int n, int per_epoch, const TestEd25519& key) {
  AuditLog log(AuditConfig{per_epoch}, key.signer());
  Ledger l;
  Chain c;
  auto add = [&](const Transaction& tx) {
    EXPECT_TRUE(l.Apply(tx).ok());
    auto a = log.Append(tx);
    c.txs.push_back(a.logged);
    if (a.closed) c.epochs.push_back(*a.closed);
  };
  add(MintTx("user:a", 1'000'000'000, "m0"));
  for (int i = 1; i < n; ++i) add(Pay(i));
  if (auto e = log.Close()) c.epochs.push_back(*e);
  c.balances = l.balances();
  return c;
}

class VerifyChainTest : public ::testing::Test {
 protected:
  void SetUp() override { chain_ = MakeChain(50, 8, key_); }
  VerifyReport Verify() {
    VerifyOptions o;
    o.verify = key_.verifier();
    o.stored_balances = &chain_.balances;
    return VerifyChain(chain_.txs, chain_.epochs, o);
  }
  static bool Has(const VerifyReport& r, int64_t epoch, int64_t tx, const std::string& check) {
    for (const auto& p : r.problems)
      if (p.epoch == epoch && p.tx_id == tx && p.check == check) return true;
    return false;
  }
  static std::string All(const VerifyReport& r) {
    std::string s;
    for (const auto& p : r.problems) s += p.ToString() + "\n";
    return s;
  }
  TestEd25519 key_;
  Chain chain_;
};

TEST_F(VerifyChainTest, AnUntouchedChainVerifies) {
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << All(r);
  EXPECT_EQ(r.transactions, 50);
  EXPECT_EQ(r.epochs, 7);  // 6 full epochs of 8 and the last 2
  EXPECT_EQ(r.unsealed, 0);
  EXPECT_EQ(r.supply.minted, 1'000'000'000);
  EXPECT_EQ(r.supply.sum_of_balances, 1'000'000'000);
}

TEST_F(VerifyChainTest, UnsealedTransactionsAreCountedNotBlamed) {
  chain_.epochs.pop_back();
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok()) << All(r);
  EXPECT_EQ(r.unsealed, 2);
}

TEST_F(VerifyChainTest, AlteredEntryIsNamedByEpochAndTransaction) {
  chain_.txs[20].tx.entries[1].amount += 5;  // transaction 21, in epoch 3 (17…24)
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Has(r, 3, 21, "balance")) << All(r);
  EXPECT_TRUE(Has(r, 3, 21, "leaf_hash")) << All(r);
  EXPECT_TRUE(Has(r, 3, 0, "merkle_root")) << All(r);
  EXPECT_EQ(r.problems[0].epoch, 3);
  EXPECT_EQ(r.problems[0].tx_id, 21);
  EXPECT_NE(r.problems[0].ToString().find("epoch 3, transaction 21"), std::string::npos);
}

TEST_F(VerifyChainTest, BalancedForgeryWithARecomputedHashIsCaughtByTheRoot) {
  // Move 5 between the two entries so the sum stays zero, and fix the stored hash.
  LoggedTx& t = chain_.txs[10];  // transaction 11, epoch 2
  t.tx.entries[0].amount -= 5;
  t.tx.entries[1].amount += 5;
  t.hash = LeafHashHex(t.id, t.tx);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].check, "merkle_root") << All(r);
  EXPECT_EQ(r.problems[0].epoch, 2);
  // The stored balances no longer match what the entries say.
  EXPECT_TRUE(Has(r, 0, 0, "stored_balance")) << All(r);
}

TEST_F(VerifyChainTest, AlteredRootIsNamed) {
  chain_.epochs[4].merkle_root[0] = chain_.epochs[4].merkle_root[0] == 'a' ? 'b' : 'a';
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].epoch, 5);
  EXPECT_EQ(r.problems[0].check, "merkle_root");
  EXPECT_TRUE(Has(r, 5, 0, "signature")) << All(r);
  for (const auto& p : r.problems) EXPECT_EQ(p.epoch, 5) << All(r);
}

TEST_F(VerifyChainTest, AlteredChainRootIsNamed) {
  chain_.epochs[1].chain_root[3] = chain_.epochs[1].chain_root[3] == 'a' ? 'b' : 'a';
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].epoch, 2);
  EXPECT_EQ(r.problems[0].check, "chain");
  EXPECT_TRUE(Has(r, 3, 0, "chain")) << All(r);  // epoch 3 no longer chains to it
}

TEST_F(VerifyChainTest, ForgedSignatureIsNamed) {
  chain_.epochs[6].signature = TestEd25519().Sign(EpochMessage(chain_.epochs[6]));  // another key
  VerifyReport r = Verify();
  ASSERT_EQ(r.problems.size(), 1u) << All(r);
  EXPECT_EQ(r.problems[0].epoch, 7);
  EXPECT_EQ(r.problems[0].check, "signature");
}

TEST_F(VerifyChainTest, ResignedTamperingStillBreaksTheNextLink) {
  // An attacker with the key rewrites epoch 2 consistently; epoch 3 still points at the old root.
  chain_.txs[9].tx.memo = "rewritten";
  std::vector<LoggedTx> e2(chain_.txs.begin() + 8, chain_.txs.begin() + 16);
  std::vector<std::string> leaves;
  for (auto& t : e2) leaves.push_back(LeafHashHex(t.id, t.tx));
  chain_.txs[9].hash = leaves[1];
  Epoch& e = chain_.epochs[1];
  e.merkle_root = *MerkleRootHex(leaves);
  e.chain_root = *ChainRootHex(e.prev_root, e.merkle_root, e.number, e.first_tx_id, e.last_tx_id);
  e.signature = key_.Sign(EpochMessage(e));
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].epoch, 3) << All(r);
  EXPECT_EQ(r.problems[0].check, "chain");
}

TEST_F(VerifyChainTest, MissingTransactionBreaksTheSequence) {
  chain_.txs.erase(chain_.txs.begin() + 30);
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Has(r, 4, 32, "sequence")) << All(r);
}

TEST_F(VerifyChainTest, OverdraftIsNamedWithItsAccount) {
  chain_.txs[40].tx.entries = {{"user:zed", -7}, {"provider:p1", 7}};
  chain_.txs[40].hash.clear();  // the stored hash was not kept for this one
  VerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].check, "funds") << All(r);
  EXPECT_EQ(r.problems[0].tx_id, 41);
  EXPECT_EQ(r.problems[0].account, "user:zed");
}

TEST_F(VerifyChainTest, StoredBalanceThatDiffersIsNamed) {
  chain_.balances["provider:p2"] += 1;
  VerifyReport r = Verify();
  ASSERT_EQ(r.problems.size(), 1u) << All(r);
  EXPECT_EQ(r.problems[0].check, "stored_balance");
  EXPECT_EQ(r.problems[0].account, "provider:p2");
}

TEST_F(VerifyChainTest, ManyProblemsAreCapped) {
  for (auto& t : chain_.txs) t.tx.entries[0].amount += 1;
  VerifyOptions o;
  o.verify = key_.verifier();
  o.max_problems = 5;
  VerifyReport r = VerifyChain(chain_.txs, chain_.epochs, o);
  EXPECT_EQ(r.problems.size(), 5u);
  EXPECT_TRUE(r.truncated);
}

TEST_F(VerifyChainTest, MalformedEntriesAreNamed) {
  chain_.txs[5].tx.entries = {{"user:a", -3}, {"mint", 3}};
  chain_.txs[5].hash.clear();
  VerifyReport r = Verify();
  EXPECT_TRUE(Has(r, 1, 6, "entries")) << All(r);
}

}  // namespace
}  // namespace gm::acct
