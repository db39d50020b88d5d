//===- AttentionPipeline.cpp - Cycle-level SpAtten attention pipeline -----===//
//
// An event-driven replay: time jumps from one service completion to the
// next, and at each such cycle the stages settle (hand rows on, start new
// ones) until nothing moves, so a slot freed in a cycle is refilled in that
// cycle and 0-cycle stages pass rows on at once. Each settling sweep runs
// from PV back to KFetch; that order decides the one tie that matters: a
// row PqDecide sends back in cycle t goes ahead of a new row KFetch could
// start in t.
//
// Once only identical rows are left, the pipeline falls into a period: its
// state, with times taken from `now` and rows from the next one to enter,
// recurs. The run then jumps whole periods at once; the replay is
// deterministic and shift-invariant there, so the cycles and statistics
// are those of stepping through every event.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/AttentionPipeline.h"

#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <unordered_map>

using namespace spatten::sim;
using namespace spatten::sim::timing;

llvm::StringRef timing::stageName(Stage s) {
  static constexpr const char *names[kNumStages] = {
      "k_fetch",    "qk",         "softmax", "pq_decide",
      "importance", "value_topk", "v_fetch", "pv"};
  return unsigned(s) < kNumStages ? names[unsigned(s)] : "?";
}

namespace {

/// A row on its way through the stages; `recompute` once PqDecide sent it
/// back for the LSB refetch.
struct Token {
  uint64_t row = 0;
  bool recompute = false;
};

enum class State { Idle, Busy, Holding };

struct Unit {
  State state = State::Idle;
  Token tok;
  uint64_t doneAt = 0;
  size_t interval = 0; ///< index in PipelineResult::intervals (trace only)
};

constexpr unsigned kPqDecide = unsigned(Stage::PqDecide);
constexpr unsigned kPV = unsigned(Stage::PV);

/// What the state was at an earlier event, for measuring one period.
struct Snapshot {
  uint64_t now, nextRow;
  std::array<StageStats, kNumStages> stages;
  std::array<uint64_t, kNumStages> lastLeave;
};

struct SignatureHash {
  size_t operator()(const std::vector<uint64_t> &v) const {
    return llvm::hash_combine_range(v.begin(), v.end());
  }
};

class Engine {
public:
  Engine(llvm::ArrayRef<RowWork> rows, const PipelineParams &p,
         uint64_t start);
  PipelineResult run();

private:
  uint64_t cost(const Token &t, unsigned s) const;
  bool needsRefetch(const Token &t) const {
    return rows[t.row].refetch && !t.recompute;
  }
  bool anyIdle(unsigned s) const;
  bool canPush(unsigned s) const;
  Unit *oldestHolding(unsigned s);
  bool handOn(unsigned s, Unit &u);
  bool release(unsigned s);
  bool take(unsigned s);
  bool nextInput(unsigned s, Token &t);
  uint64_t nextEvent() const;
  void account(uint64_t until);
  static size_t uniformSuffix(llvm::ArrayRef<RowWork> rows);
  bool periodic() const;
  void signature(std::vector<uint64_t> &out) const;
  void skipPeriods();
  void shift(uint64_t periods, uint64_t cycles, uint64_t rowsPer,
             const Snapshot &before);

  llvm::ArrayRef<RowWork> rows;
  PipelineParams p;
  uint64_t start, now;
  std::array<llvm::SmallVector<Unit, 1>, kNumStages> units;
  std::array<std::deque<Token>, kNumStages - 1> queues; ///< after stage s
  std::deque<Token> refetch; ///< PqDecide -> KFetch, ahead of new rows
  uint64_t nextRow = 0, left, lastLeave;
  PipelineResult res;
  /// Rows from here on are identical and never refetch.
  size_t uniformFrom;
  std::unordered_map<std::vector<uint64_t>, Snapshot, SignatureHash> seen;
  std::vector<uint64_t> key;
};

} // namespace

Engine::Engine(llvm::ArrayRef<RowWork> rows, const PipelineParams &p,
               uint64_t start)
    : rows(rows), p(p), start(start), now(start), left(rows.size()),
      lastLeave(start), uniformFrom(uniformSuffix(rows)) {
  // A row holds one unit at a time, so units beyond the row count are never
  // taken (the lowest idle one always is): a configuration of millions of
  // engines costs what one per row does.
  uint64_t most = std::max<uint64_t>(1, rows.size());
  for (unsigned s = 0; s < kNumStages; ++s)
    units[s].resize(std::max<uint64_t>(1, std::min<uint64_t>(p.servers[s], most)));
}

uint64_t Engine::cost(const Token &t, unsigned s) const {
  const RowWork &w = rows[t.row];
  return t.recompute && s < w.refetchCycles.size() ? w.refetchCycles[s]
                                                    : w.cycles[s];
}

bool Engine::anyIdle(unsigned s) const {
  return llvm::any_of(units[s],
                      [](const Unit &u) { return u.state == State::Idle; });
}

bool Engine::canPush(unsigned s) const {
  // Depth 0: no FIFO, so the row may only go straight into an idle unit.
  const std::deque<Token> &q = queues[s];
  return q.size() < p.queueDepth || (q.empty() && anyIdle(s + 1));
}

/// The oldest finished row of stage s: of the rows several units have
/// finished, the one that arrived first moves on first.
Unit *Engine::oldestHolding(unsigned s) {
  Unit *oldest = nullptr;
  for (Unit &u : units[s])
    if (u.state == State::Holding &&
        (!oldest || u.tok.row < oldest->tok.row))
      oldest = &u;
  return oldest;
}

/// Hands a finished row on; false while it must stay (blocked).
bool Engine::handOn(unsigned s, Unit &u) {
  if (s == kPV) {
    --left;
    lastLeave = now;
  } else if (s == kPqDecide && needsRefetch(u.tok)) {
    refetch.push_back(Token{u.tok.row, true});
  } else if (canPush(s)) {
    queues[s].push_back(u.tok);
  } else {
    return false;
  }
  if (p.trace)
    res.intervals[u.interval].leave = now;
  res.lastLeave[s] = now - start;
  u.state = State::Idle;
  return true;
}

bool Engine::release(unsigned s) {
  bool moved = false;
  while (Unit *u = oldestHolding(s)) {
    if (!handOn(s, *u))
      break;
    moved = true;
  }
  return moved;
}

bool Engine::nextInput(unsigned s, Token &t) {
  std::deque<Token> *q = s ? &queues[s - 1] : &refetch;
  if (!q->empty()) {
    t = q->front();
    q->pop_front();
    return true;
  }
  if (s || nextRow == rows.size())
    return false;
  t = Token{nextRow++, false};
  return true;
}

/// Idle units of stage s start their next rows, if any.
bool Engine::take(unsigned s) {
  if (now < start + p.freeAt[s])
    return false;
  bool moved = false;
  for (Unit &u : units[s]) {
    if (u.state != State::Idle || !nextInput(s, u.tok))
      continue;
    moved = true;
    u.doneAt = llvm::SaturatingAdd(now, cost(u.tok, s));
    u.state = u.doneAt > now ? State::Busy : State::Holding;
    if (p.trace) {
      u.interval = res.intervals.size();
      res.intervals.push_back(StageInterval{
          u.tok.row, Stage(s), u.tok.recompute && s <= kPqDecide, now,
          u.doneAt, u.doneAt});
    }
  }
  return moved;
}

uint64_t Engine::nextEvent() const {
  uint64_t next = std::numeric_limits<uint64_t>::max();
  for (unsigned s = 0; s < kNumStages; ++s) {
    if (start + p.freeAt[s] > now)
      next = std::min(next, start + p.freeAt[s]);
    for (const Unit &u : units[s])
      if (u.state == State::Busy)
        next = std::min(next, u.doneAt);
  }
  // With rows left, some unit is busy or a stage is yet to free up: PV
  // never blocks, the refetch path is unbounded, and an idle stage with
  // input starts it when settling.
  if (next == std::numeric_limits<uint64_t>::max())
    llvm_unreachable("attention pipeline: rows left but nothing to wait for");
  return next;
}

void Engine::account(uint64_t until) {
  for (unsigned s = 0; s < kNumStages; ++s) {
    if (now < start + p.freeAt[s])
      continue; // the previous ATTN's time, counted there
    StageStats &st = res.stages[s];
    uint64_t span = until - now;
    auto in = [&](State state) {
      return llvm::any_of(units[s],
                          [&](const Unit &u) { return u.state == state; });
    };
    if (in(State::Busy))
      st.busy += span;
    else if (in(State::Holding))
      st.blocked += span;
    else
      st.starved += span;
  }
}

size_t Engine::uniformSuffix(llvm::ArrayRef<RowWork> rows) {
  size_t from = rows.size();
  if (!from || rows.back().refetch)
    return from;
  while (from > 0 && rows[from - 1].cycles == rows.back().cycles &&
         !rows[from - 1].refetch)
    --from;
  return from;
}

/// Whether the run's future is a function of the signature alone: every
/// row in flight or yet to enter is one of the identical rows, no stage
/// waits for the previous ATTN, and nothing is traced.
bool Engine::periodic() const {
  if (p.trace || nextRow < uniformFrom || !refetch.empty())
    return false;
  for (unsigned s = 0; s < kNumStages; ++s)
    if (now < start + p.freeAt[s])
      return false;
  for (const auto &stage : units)
    for (const Unit &u : stage)
      if (u.state != State::Idle && u.tok.row < uniformFrom)
        return false;
  for (const std::deque<Token> &q : queues)
    for (const Token &t : q)
      if (t.row < uniformFrom)
        return false;
  return true;
}

/// The state with times relative to `now` and rows relative to `nextRow`.
void Engine::signature(std::vector<uint64_t> &out) const {
  out.clear();
  for (const auto &stage : units)
    for (const Unit &u : stage) {
      out.push_back(uint64_t(u.state));
      out.push_back(u.state == State::Idle ? 0 : nextRow - u.tok.row);
      out.push_back(u.state == State::Busy ? u.doneAt - now : 0);
    }
  for (const std::deque<Token> &q : queues) {
    out.push_back(q.size());
    for (const Token &t : q)
      out.push_back(nextRow - t.row);
  }
}

void Engine::skipPeriods() {
  if (!periodic())
    return;
  signature(key);
  Snapshot here{now, nextRow, res.stages, res.lastLeave};
  auto [it, fresh] = seen.try_emplace(key, here);
  if (fresh) {
    // A period spans a few events per row and unit; past this many states
    // it is not worth finding, and the map would only grow.
    if (seen.size() > 4096)
      seen.clear();
    return;
  }
  const Snapshot &before = it->second;
  uint64_t rowsPer = nextRow - before.nextRow, cycles = now - before.now;
  // Every row of a skipped period must exist when KFetch asks for it, as
  // it did in the period measured.
  uint64_t periods = rowsPer ? (rows.size() - nextRow) / rowsPer : 0;
  if (periods && cycles)
    shift(periods, cycles, rowsPer, before);
  seen.clear();
}

void Engine::shift(uint64_t periods, uint64_t cycles, uint64_t rowsPer,
                   const Snapshot &before) {
  uint64_t dt = periods * cycles, dr = periods * rowsPer;
  for (auto &stage : units)
    for (Unit &u : stage) {
      u.tok.row += u.state == State::Idle ? 0 : dr;
      u.doneAt += u.state == State::Busy ? dt : 0;
    }
  for (std::deque<Token> &q : queues)
    for (Token &t : q)
      t.row += dr;
  for (unsigned s = 0; s < kNumStages; ++s) {
    StageStats &st = res.stages[s];
    const StageStats &was = before.stages[s];
    st.busy += periods * (st.busy - was.busy);
    st.blocked += periods * (st.blocked - was.blocked);
    st.starved += periods * (st.starved - was.starved);
    if (res.lastLeave[s] != before.lastLeave[s])
      res.lastLeave[s] += dt;
  }
  // The rows in flight are as many as before: each period retires rowsPer.
  if (lastLeave > before.now)
    lastLeave += dt;
  now += dt;
  nextRow += dr;
  left -= dr;
}

PipelineResult Engine::run() {
  while (left) {
    for (auto &stage : units)
      for (Unit &u : stage)
        if (u.state == State::Busy && u.doneAt <= now)
          u.state = State::Holding;
    for (bool moved = true; moved;) {
      moved = false;
      for (unsigned s = kNumStages; s-- > 0;) {
        moved |= release(s);
        moved |= take(s);
      }
    }
    if (!left)
      break;
    skipPeriods();
    uint64_t next = nextEvent();
    account(next);
    now = next;
  }
  res.cycles = lastLeave - start;
  return std::move(res);
}

PipelineResult timing::runPipeline(llvm::ArrayRef<RowWork> rows,
                                   const PipelineParams &p, uint64_t start) {
  return Engine(rows, p, start).run();
}

//===----------------------------------------------------------------------===//
// Per-row work from unit counts
//===----------------------------------------------------------------------===//

static llvm::Error zeroUnit(llvm::StringRef field) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "field '" + field + "': must be positive");
}

static llvm::Error checkUnits(const AttentionUnits &u) {
  const std::pair<const char *, unsigned> fields[] = {
      {"qk_multipliers", u.qkMultipliers},
      {"pv_multipliers", u.pvMultipliers},
      {"softmax_units", u.softmaxUnits},
      {"topk_comparators", u.topkComparators},
      {"crossbar_inputs", u.crossbarInputs},
      {"crossbar_outputs", u.crossbarOutputs}};
  for (auto [name, value] : fields)
    if (!value)
      return zeroUnit(name);
  return llvm::Error::success();
}

/// A K fetch that uses the crossbar moves at most one key row per port per
/// cycle, and min(inputs, outputs) ports carry rows at once.
static uint64_t crossbarFetch(const AttentionUnits &u, uint64_t keys,
                              uint64_t fetchCycles) {
  if (!fetchCycles)
    return 0;
  uint64_t ports = std::min(u.crossbarInputs, u.crossbarOutputs);
  return std::max(fetchCycles, llvm::divideCeil(keys, ports));
}

llvm::Expected<RowWork> timing::rowWork(const AttentionUnits &u,
                                        uint64_t keys, uint64_t d,
                                        uint64_t keptValues,
                                        uint64_t topkCycles,
                                        uint64_t kFetchCycles,
                                        uint64_t vFetchCycles,
                                        const AttentionMode &mode) {
  if (llvm::Error e = checkUnits(u))
    return std::move(e);
  uint64_t perKeyLane = llvm::divideCeil(keys, uint64_t(u.softmaxUnits));
  RowWork w;
  auto at = [&](Stage s) -> uint64_t & { return w.cycles[unsigned(s)]; };
  at(Stage::KFetch) = crossbarFetch(u, keys, kFetchCycles);
  at(Stage::QK) = llvm::divideCeil(keys * d, uint64_t(u.qkMultipliers));
  at(Stage::Softmax) = perKeyLane;
  at(Stage::PqDecide) = mode.progressiveQuantization ? 1 : 0;
  at(Stage::Importance) = mode.importance ? perKeyLane : 0;
  at(Stage::ValueTopk) = topkCycles;
  at(Stage::VFetch) = vFetchCycles;
  at(Stage::PV) = llvm::divideCeil(keptValues * d, uint64_t(u.pvMultipliers));
  return w;
}

llvm::Error timing::setRefetch(RowWork &w, const AttentionUnits &u,
                               uint64_t keys, uint64_t lsbFetchCycles) {
  if (llvm::Error e = checkUnits(u))
    return e;
  w.refetch = true;
  w.refetchCycles = {crossbarFetch(u, keys, lsbFetchCycles),
                     w.cycles[unsigned(Stage::QK)],
                     w.cycles[unsigned(Stage::Softmax)]};
  return llvm::Error::success();
}
