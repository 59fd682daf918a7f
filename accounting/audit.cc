// Canonical transaction encoding, Merkle trees, chained signed epochs,
// inclusion proofs and whole-chain verification.
#include "accounting/audit.h"

#include <algorithm>
#include <unordered_map>

#include "accounting/sha256.h"

namespace gm::acct {

using nlohmann::json;

namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;
constexpr uint8_t kChainPrefix = 0x02;

void PutU32(std::string& o, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  o.append(b, 4);
}

void PutI64(std::string& o, int64_t s) {
  uint64_t v = static_cast<uint64_t>(s);
  char b[8];
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  o.append(b, 8);
}

void PutStr(std::string& o, const std::string& s) {
  PutU32(o, static_cast<uint32_t>(s.size()));
  o.append(s);
}

void EncodeInto(std::string& o, int64_t id, const Transaction& tx) {
  o.clear();
  o.append("GMTX\x01", 5);
  PutI64(o, id);
  PutStr(o, tx.kind);
  PutStr(o, tx.ref);
  PutStr(o, tx.memo);
  PutU32(o, static_cast<uint32_t>(tx.entries.size()));
  for (const auto& e : tx.entries) {
    PutStr(o, e.account);
    PutI64(o, e.amount);
  }
}

std::string_view View(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

Hash Leaf(Sha256& sha, std::string& buf, int64_t id, const Transaction& tx) {
  EncodeInto(buf, id, tx);
  return sha.Digest(kLeafPrefix, buf);
}

Hash Node(Sha256& sha, const Hash& l, const Hash& r) { return sha.Digest(kNodePrefix, View(l), View(r)); }

// Bottom-up; a lone last node moves up unchanged, which yields RFC 6962's tree.
Hash RootOf(Sha256& sha, std::vector<Hash> level) {
  while (level.size() > 1) {
    size_t n = level.size(), m = 0;
    for (size_t i = 0; i + 1 < n; i += 2) level[m++] = Node(sha, level[i], level[i + 1]);
    if (n % 2) level[m++] = level[n - 1];
    level.resize(m);
  }
  return level[0];
}

std::vector<std::vector<Hash>> Levels(Sha256& sha, std::vector<Hash> leaves) {
  std::vector<std::vector<Hash>> levels{std::move(leaves)};
  while (levels.back().size() > 1) {
    const auto& cur = levels.back();
    std::vector<Hash> up;
    up.reserve((cur.size() + 1) / 2);
    for (size_t i = 0; i + 1 < cur.size(); i += 2) up.push_back(Node(sha, cur[i], cur[i + 1]));
    if (cur.size() % 2) up.push_back(cur.back());
    levels.push_back(std::move(up));
  }
  return levels;
}

std::vector<std::string> PathOf(const std::vector<std::vector<Hash>>& levels, size_t index) {
  std::vector<std::string> path;
  for (size_t l = 0; l + 1 < levels.size(); ++l, index >>= 1) {
    size_t n = levels[l].size();
    if (index % 2) path.push_back(HashHex(levels[l][index - 1]));
    else if (index + 1 < n) path.push_back(HashHex(levels[l][index + 1]));
  }
  return path;
}

Hash ChainRoot(Sha256& sha, const Hash& prev, const Hash& merkle, int64_t number, int64_t first, int64_t last) {
  std::string tail;
  PutI64(tail, number);
  PutI64(tail, first);
  PutI64(tail, last);
  std::string body(View(prev));
  body.append(View(merkle));
  return sha.Digest(kChainPrefix, body, tail);
}

// The leaves of an epoch, after checking that `txs` are exactly its range.
Result<std::vector<Hash>> EpochLeaves(Sha256& sha, const Epoch& e, const std::vector<LoggedTx>& txs) {
  int64_t want = e.last_tx_id - e.first_tx_id + 1;
  if (want <= 0 || static_cast<int64_t>(txs.size()) != want)
    return Status::InvalidArgument("epoch " + std::to_string(e.number) + " holds transactions " +
                                   std::to_string(e.first_tx_id) + "…" + std::to_string(e.last_tx_id) +
                                   " but " + std::to_string(txs.size()) + " were given");
  std::vector<Hash> leaves;
  leaves.reserve(txs.size());
  std::string buf;
  for (size_t i = 0; i < txs.size(); ++i) {
    if (txs[i].id != e.first_tx_id + static_cast<int64_t>(i))
      return Status::InvalidArgument("transaction " + std::to_string(txs[i].id) + " is out of place in epoch " +
                                     std::to_string(e.number));
    leaves.push_back(Leaf(sha, buf, txs[i].id, txs[i].tx));
  }
  return leaves;
}

}  // namespace

// ---- encodings and headers ------------------------------------------------------------

std::string EncodeTx(int64_t id, const Transaction& tx) {
  std::string o;
  EncodeInto(o, id, tx);
  return o;
}

std::string LeafHashHex(int64_t id, const Transaction& tx) {
  Sha256 sha;
  std::string buf;
  return HashHex(Leaf(sha, buf, id, tx));
}

Result<std::string> MerkleRootHex(const std::vector<std::string>& leaf_hashes) {
  if (leaf_hashes.empty()) return Status::InvalidArgument("a Merkle root needs at least one leaf");
  std::vector<Hash> leaves;
  for (const auto& h : leaf_hashes) {
    GM_ASSIGN_OR_RETURN(Hash x, ParseHashHex(h));
    leaves.push_back(x);
  }
  Sha256 sha;
  return HashHex(RootOf(sha, std::move(leaves)));
}

Result<std::string> ChainRootHex(const std::string& prev_root, const std::string& merkle_root, int64_t number,
                                 int64_t first_tx_id, int64_t last_tx_id) {
  GM_ASSIGN_OR_RETURN(Hash prev, ParseHashHex(prev_root));
  GM_ASSIGN_OR_RETURN(Hash merkle, ParseHashHex(merkle_root));
  Sha256 sha;
  return HashHex(ChainRoot(sha, prev, merkle, number, first_tx_id, last_tx_id));
}

std::string EpochMessage(const Epoch& e) {
  return "gridmint-epoch/1\nnumber=" + std::to_string(e.number) + "\nfirst_tx_id=" +
         std::to_string(e.first_tx_id) + "\nlast_tx_id=" + std::to_string(e.last_tx_id) +
         "\nmerkle_root=" + e.merkle_root + "\nprev_root=" + e.prev_root + "\nchain_root=" +
         e.chain_root + "\n";
}

void to_json(json& j, const Epoch& e) {
  j = json{{"number", e.number}, {"first_tx_id", e.first_tx_id}, {"last_tx_id", e.last_tx_id},
           {"merkle_root", e.merkle_root}, {"prev_root", e.prev_root}, {"chain_root", e.chain_root},
           {"signature", e.signature}};
}

void from_json(const json& j, Epoch& e) {
  j.at("number").get_to(e.number);
  j.at("first_tx_id").get_to(e.first_tx_id);
  j.at("last_tx_id").get_to(e.last_tx_id);
  j.at("merkle_root").get_to(e.merkle_root);
  j.at("prev_root").get_to(e.prev_root);
  j.at("chain_root").get_to(e.chain_root);
  j.at("signature").get_to(e.signature);
}

// ---- the log ------------------------------------------------------------------------------

struct AuditLog::Impl {
  AuditConfig config;
  EpochSigner signer;
  Sha256 sha;
  std::string buf;
  int64_t next_id = 1;
  std::vector<Hash> leaves;  // of the open epoch
  std::vector<LoggedTx> open;  // the open epoch's transactions
  std::optional<Epoch> last;

  std::optional<Epoch> Close() {
    if (leaves.empty()) return std::nullopt;
    Epoch e;
    e.number = last ? last->number + 1 : 1;
    e.last_tx_id = next_id - 1;
    e.first_tx_id = next_id - static_cast<int64_t>(leaves.size());
    Hash merkle = RootOf(sha, std::move(leaves));
    leaves.clear();
    open.clear();
    Hash prev{};
    if (last) prev = ParseHashHex(last->chain_root).value();  // checked when it was made or restored
    e.merkle_root = HashHex(merkle);
    e.prev_root = HashHex(prev);
    e.chain_root = HashHex(ChainRoot(sha, prev, merkle, e.number, e.first_tx_id, e.last_tx_id));
    if (signer) e.signature = signer(EpochMessage(e));
    last = e;
    return e;
  }
};

AuditLog::AuditLog(AuditConfig config, EpochSigner signer) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->signer = std::move(signer);
}
AuditLog::~AuditLog() = default;
AuditLog::AuditLog(AuditLog&&) noexcept = default;
AuditLog& AuditLog::operator=(AuditLog&&) noexcept = default;

AuditLog::Appended AuditLog::Append(Transaction tx) {
  Impl& m = *impl_;
  Appended a;
  a.logged.id = m.next_id++;
  a.logged.tx = std::move(tx);
  Hash leaf = Leaf(m.sha, m.buf, a.logged.id, a.logged.tx);
  a.logged.hash = HashHex(leaf);
  m.leaves.push_back(leaf);
  m.open.push_back(a.logged);
  if (static_cast<int64_t>(m.leaves.size()) >= std::max<int64_t>(1, m.config.epoch_max_txs)) a.closed = m.Close();
  return a;
}

std::optional<Epoch> AuditLog::Close() { return impl_->Close(); }
int64_t AuditLog::next_tx_id() const { return impl_->next_id; }
int64_t AuditLog::open_count() const { return static_cast<int64_t>(impl_->leaves.size()); }
const std::vector<LoggedTx>& AuditLog::open_txs() const { return impl_->open; }
const std::optional<Epoch>& AuditLog::last_epoch() const { return impl_->last; }

Status AuditLog::Restore(const std::optional<Epoch>& last, const std::vector<LoggedTx>& open_txs) {
  Impl& m = *impl_;
  if (last && !ParseHashHex(last->chain_root).ok())
    return Status::InvalidArgument("epoch " + std::to_string(last->number) + " has a malformed chain_root");
  int64_t next = last ? last->last_tx_id + 1 : 1;
  std::vector<Hash> leaves;
  for (const auto& t : open_txs) {
    if (t.id != next)
      return Status::InvalidArgument("transaction " + std::to_string(t.id) + " does not follow " +
                                     std::to_string(next - 1));
    leaves.push_back(Leaf(m.sha, m.buf, t.id, t.tx));
    ++next;
  }
  m.last = last;
  m.leaves = std::move(leaves);
  m.open = open_txs;
  m.next_id = next;
  return Status::OK();
}

// ---- proofs and export ---------------------------------------------------------------------

void to_json(json& j, const InclusionProof& p) {
  j = json{{"tx_id", p.tx_id}, {"epoch", p.epoch}, {"index", p.index}, {"size", p.size},
           {"leaf_hash", p.leaf_hash}, {"path", p.path}, {"merkle_root", p.merkle_root}};
}

void from_json(const json& j, InclusionProof& p) {
  j.at("tx_id").get_to(p.tx_id);
  j.at("epoch").get_to(p.epoch);
  j.at("index").get_to(p.index);
  j.at("size").get_to(p.size);
  j.at("leaf_hash").get_to(p.leaf_hash);
  j.at("path").get_to(p.path);
  j.at("merkle_root").get_to(p.merkle_root);
}

Result<InclusionProof> Prove(const Epoch& e, const std::vector<LoggedTx>& txs, int64_t tx_id) {
  if (tx_id < e.first_tx_id || tx_id > e.last_tx_id)
    return Status::NotFound("epoch " + std::to_string(e.number) + " does not hold transaction " +
                            std::to_string(tx_id));
  Sha256 sha;
  GM_ASSIGN_OR_RETURN(auto leaves, EpochLeaves(sha, e, txs));
  auto levels = Levels(sha, std::move(leaves));
  if (HashHex(levels.back()[0]) != e.merkle_root)
    return Status::Corruption("the transactions of epoch " + std::to_string(e.number) +
                              " do not hash to its merkle_root");
  InclusionProof p;
  p.tx_id = tx_id;
  p.epoch = e.number;
  p.index = tx_id - e.first_tx_id;
  p.size = static_cast<int64_t>(txs.size());
  p.leaf_hash = HashHex(levels[0][p.index]);
  p.path = PathOf(levels, static_cast<size_t>(p.index));
  p.merkle_root = e.merkle_root;
  return p;
}

Status VerifyProof(const InclusionProof& p, const Transaction& tx, const std::string& merkle_root) {
  std::string name = "proof of transaction " + std::to_string(p.tx_id);
  Sha256 sha;
  std::string buf;
  Hash r = Leaf(sha, buf, p.tx_id, tx);
  if (HashHex(r) != p.leaf_hash) return Status::Corruption(name + ": the transaction does not hash to its leaf_hash");
  if (p.index < 0 || p.index >= p.size) return Status::Corruption(name + ": index outside the epoch");
  // RFC 9162 §2.1.3.2.
  uint64_t fn = static_cast<uint64_t>(p.index), sn = static_cast<uint64_t>(p.size - 1);
  for (size_t i = 0; i < p.path.size(); ++i) {
    auto sib = ParseHashHex(p.path[i]);
    if (!sib.ok()) return Status::Corruption(name + ": path step " + std::to_string(i) + " is not a hash");
    if (sn == 0) return Status::Corruption(name + ": the path is longer than the tree is high");
    if ((fn & 1) || fn == sn) {
      r = Node(sha, *sib, r);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      r = Node(sha, r, *sib);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption(name + ": the path is shorter than the tree is high");
  if (HashHex(r) != p.merkle_root) return Status::Corruption(name + ": the path does not lead to its merkle_root");
  if (p.merkle_root != merkle_root)
    return Status::Corruption(name + ": it leads to " + p.merkle_root + ", not to the epoch's root " + merkle_root);
  return Status::OK();
}

Result<json> ExportEpoch(const Epoch& e, const std::vector<LoggedTx>& txs) {
  Sha256 sha;
  auto leaves = EpochLeaves(sha, e, txs);
  if (!leaves.ok()) return Status::Corruption(leaves.status().message());
  auto levels = Levels(sha, std::move(leaves).value());
  if (HashHex(levels.back()[0]) != e.merkle_root)
    return Status::Corruption("the transactions of epoch " + std::to_string(e.number) +
                              " do not hash to its merkle_root");
  json out = e;
  out["format"] = "gridmint-epoch/1";
  out["signed_message"] = EpochMessage(e);
  out["hashing"] = {{"leaf", "sha256(0x00 || canonical transaction)"},
                    {"node", "sha256(0x01 || left || right)"},
                    {"chain", "sha256(0x02 || prev_root || merkle_root || i64 number || i64 first || i64 last)"},
                    {"tree", "RFC 9162"}};
  json list = json::array();
  for (size_t i = 0; i < txs.size(); ++i)
    list.push_back({{"tx_id", txs[i].id}, {"ref", txs[i].tx.ref}, {"leaf_hash", HashHex(levels[0][i])},
                    {"index", i}, {"path", PathOf(levels, i)}});
  out["transactions"] = std::move(list);
  return out;
}

// ---- verification ---------------------------------------------------------------------------

std::string VerifyProblem::ToString() const {
  std::string where;
  if (epoch) where += "epoch " + std::to_string(epoch);
  if (tx_id) where += (where.empty() ? "" : ", ") + std::string("transaction ") + std::to_string(tx_id);
  if (!account.empty()) where += (where.empty() ? "" : ", ") + std::string("account ") + account;
  return (where.empty() ? "" : where + ": ") + check + ": " + detail;
}

namespace {

class Verifier {
 public:
  Verifier(const std::vector<LoggedTx>& txs, const std::vector<Epoch>& epochs, const VerifyOptions& o)
      : txs_(txs), epochs_(epochs), o_(o) {}

  VerifyReport Run() {
    r_.transactions = static_cast<int64_t>(txs_.size());
    r_.epochs = static_cast<int64_t>(epochs_.size());
    size_t usable = UsableEpochs();
    balances_.reserve(1024);
    size_t e = 0;  // the epoch that holds the current transaction, if e < usable
    std::vector<Hash> leaves;
    int64_t prev_id = 0;
    for (size_t i = 0; i < txs_.size(); ++i) {
      const LoggedTx& t = txs_[i];
      int64_t epoch_no = EpochOf(t.id);
      if (t.id != prev_id + 1)
        Add(epoch_no, t.id, "", "sequence", "expected transaction id " + std::to_string(prev_id + 1));
      prev_id = t.id;
      Hash leaf = Leaf(sha_, buf_, t.id, t.tx);
      if (!t.hash.empty() && t.hash != HashHex(leaf))
        Add(epoch_no, t.id, "", "leaf_hash", "stored " + t.hash + ", computed " + HashHex(leaf));
      CheckAndApply(epoch_no, t);
      if (e < usable) {
        leaves.push_back(leaf);
        if (t.id == epochs_[e].last_tx_id) {
          CheckEpoch(epochs_[e], std::move(leaves));
          leaves.clear();
          ++e;
        }
      }
    }
    r_.unsealed = static_cast<int64_t>(txs_.size()) - (usable ? epochs_[usable - 1].last_tx_id : 0);
    if (r_.unsealed < 0) r_.unsealed = 0;
    Finish();
    return std::move(r_);
  }

 private:
  void Add(int64_t epoch, int64_t tx, const std::string& account, const char* check, std::string detail) {
    if (r_.problems.size() >= o_.max_problems) {
      r_.truncated = true;
      return;
    }
    r_.problems.push_back({epoch, tx, account, check, std::move(detail)});
  }

  // The epoch whose declared range holds `id` (0: none), for naming problems
  // even where the ranges themselves are broken.
  int64_t EpochOf(int64_t id) const {
    auto it = std::upper_bound(epochs_.begin(), epochs_.end(), id,
                               [](int64_t v, const Epoch& e) { return v < e.first_tx_id; });
    if (it == epochs_.begin()) return 0;
    --it;
    return id <= it->last_tx_id ? it->number : 0;
  }

  // Epochs whose numbering and ranges are sound and lie within the
  // transactions; the first that is not ends the root checks.
  size_t UsableEpochs() {
    int64_t prev_last = 0;
    for (size_t k = 0; k < epochs_.size(); ++k) {
      const Epoch& e = epochs_[k];
      std::string why;
      if (e.number != static_cast<int64_t>(k) + 1) why = "expected epoch number " + std::to_string(k + 1);
      else if (e.first_tx_id != prev_last + 1) why = "expected first transaction " + std::to_string(prev_last + 1);
      else if (e.last_tx_id < e.first_tx_id) why = "last transaction before the first";
      else if (e.last_tx_id > static_cast<int64_t>(txs_.size()) || txs_[e.last_tx_id - 1].id != e.last_tx_id)
        why = "its transactions up to " + std::to_string(e.last_tx_id) + " are missing";
      if (!why.empty()) {
        Add(e.number, 0, "", "sequence", why);
        return k;
      }
      prev_last = e.last_tx_id;
    }
    return epochs_.size();
  }

  Micros Limit(const std::string& account) const {
    if (!o_.credit_limits) return 0;
    auto it = o_.credit_limits->find(account);
    return it == o_.credit_limits->end() ? 0 : it->second;
  }

  void CheckAndApply(int64_t epoch, const LoggedTx& t) {
    const auto& entries = t.tx.entries;
    if (entries.empty()) Add(epoch, t.id, "", "entries", "no entries");
    __int128 sum = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& en = entries[i];
      sum += en.amount;
      AccountType type = TypeOf(en.account);
      if (en.amount == 0) Add(epoch, t.id, en.account, "entries", "zero entry");
      if (type == AccountType::kInvalid) Add(epoch, t.id, en.account, "entries", "invalid account");
      if (type == AccountType::kMint && en.amount > 0) Add(epoch, t.id, en.account, "entries", "mint credited");
      if (type == AccountType::kBurn && en.amount < 0) Add(epoch, t.id, en.account, "entries", "burn debited");
      for (size_t j = 0; j < i; ++j)
        if (entries[j].account == en.account) Add(epoch, t.id, en.account, "entries", "account named twice");
      Micros& b = balances_[en.account];
      b += en.amount;
      if (type != AccountType::kMint && b < -Limit(en.account))
        Add(epoch, t.id, en.account, "funds", "balance becomes " + std::to_string(b));
    }
    if (sum != 0)
      Add(epoch, t.id, "", "balance", "entries sum to " + std::to_string(static_cast<int64_t>(sum)));
  }

  void CheckEpoch(const Epoch& e, std::vector<Hash> leaves) {
    Hash merkle = RootOf(sha_, std::move(leaves));
    if (HashHex(merkle) != e.merkle_root)
      Add(e.number, 0, "", "merkle_root", "stored " + e.merkle_root + ", computed " + HashHex(merkle));
    if (e.prev_root != prev_chain_)
      Add(e.number, 0, "", "chain", "prev_root " + e.prev_root + " is not the previous chain_root " + prev_chain_);
    auto prev = ParseHashHex(e.prev_root);
    auto stored_merkle = ParseHashHex(e.merkle_root);
    if (prev.ok() && stored_merkle.ok()) {
      std::string chain = HashHex(ChainRoot(sha_, *prev, *stored_merkle, e.number, e.first_tx_id, e.last_tx_id));
      if (chain != e.chain_root)
        Add(e.number, 0, "", "chain", "stored chain_root " + e.chain_root + ", computed " + chain);
    } else {
      Add(e.number, 0, "", "chain", "malformed prev_root or merkle_root");
    }
    if (!o_.verify || e.signature.empty() || !o_.verify(EpochMessage(e), e.signature))
      Add(e.number, 0, "", "signature", e.signature.empty() ? "no signature" : "the signature does not verify");
    prev_chain_ = e.chain_root;
  }

  void Finish() {
    SupplyReport& s = r_.supply;
    Micros pool = 0;
    for (const auto& [account, b] : balances_) {
      if (account == kMintAccount) s.minted = -b;
      else if (account == kBurnAccount) s.burned = b;
      else s.sum_of_balances += b;
      if (account == kRewardsPoolAccount) pool = b;
    }
    s.circulating = s.sum_of_balances - pool;
    if (!s.balanced())
      Add(0, 0, "", "supply", "minted " + std::to_string(s.minted) + " − burned " + std::to_string(s.burned) +
                                  " ≠ sum of balances " + std::to_string(s.sum_of_balances));
    if (!o_.stored_balances) return;
    // In account order, so that the report reads the same every time.
    std::map<std::string, std::pair<Micros, Micros>> differ;  // account -> (stored, derived)
    for (const auto& [account, b] : balances_) {
      auto it = o_.stored_balances->find(std::string(account));
      Micros stored = it == o_.stored_balances->end() ? 0 : it->second;
      if (stored != b) differ[std::string(account)] = {stored, b};
    }
    for (const auto& [account, stored] : *o_.stored_balances)
      if (stored != 0 && !balances_.count(account)) differ[account] = {stored, 0};
    for (const auto& [account, v] : differ)
      Add(0, 0, account, "stored_balance",
          "stored " + std::to_string(v.first) + ", re-derived " + std::to_string(v.second));
  }

  const std::vector<LoggedTx>& txs_;
  const std::vector<Epoch>& epochs_;
  const VerifyOptions& o_;
  VerifyReport r_;
  Sha256 sha_;
  std::string buf_;
  std::string prev_chain_ = kZeroRoot;
  // Keys point into txs_, which outlive the verifier.
  std::unordered_map<std::string_view, Micros> balances_;
};

}  // namespace

VerifyReport VerifyChain(const std::vector<LoggedTx>& txs, const std::vector<Epoch>& epochs,
                         const VerifyOptions& options) {
  return Verifier(txs, epochs, options).Run();
}

}  // namespace gm::acct
