#include "analysis/sqlite_util.hpp"

#include <sqlite3.h>

#include <ctime>

#include "sim/error.hpp"

namespace wormsim::analysis {

void sqlite_fail(sqlite3* db, int rc, const DbFile& file, const std::string& what) {
  const std::string name = file.label + " " + file.path.string();
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error(name + " is locked by another process (" + what +
                  "); wait for it to finish, or " + file.other_file_fix);
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      throw Error("cannot write " + name + " (" + what + "): " + detail +
                  "; check that the file and its directory exist and are writable, or " +
                  file.other_file_fix);
    case SQLITE_FULL:
      throw Error(name + ": the disk is full (" + what + "); free space or " + file.other_file_fix);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw Error(file.path.string() + " is not a SQLite database (" + what + "); " +
                  file.other_file_fix);
    default:
      throw Error(name + ": " + what + ": " + detail);
  }
}

void sqlite_exec(sqlite3* db, const DbFile& file, const std::string& sql, const std::string& what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  if (message != nullptr) sqlite3_free(message);
  if (rc != SQLITE_OK) sqlite_fail(db, rc, file, what);
}

SqlStatement::SqlStatement(sqlite3* db, const DbFile& file, const std::string& sql)
    : db_(db), file_(file) {
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, &tail);
  if (rc != SQLITE_OK) sqlite_fail(db, rc, file, "preparing '" + sql.substr(0, 120) + "'");
  if (stmt_ == nullptr) throw Error(file.label + " query is empty; give one SQL statement");
  tail_ = tail != nullptr ? tail : "";
}

SqlStatement::~SqlStatement() { sqlite3_finalize(stmt_); }

void SqlStatement::bind(const std::vector<SqlValue>& values) {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int index = static_cast<int>(i + 1);
    int rc = SQLITE_OK;
    if (const auto* v = std::get_if<std::int64_t>(&values[i])) {
      rc = sqlite3_bind_int64(stmt_, index, *v);
    } else if (const auto* d = std::get_if<double>(&values[i])) {
      rc = sqlite3_bind_double(stmt_, index, *d);
    } else if (const auto* s = std::get_if<std::string>(&values[i])) {
      rc = sqlite3_bind_text(stmt_, index, s->c_str(), static_cast<int>(s->size()),
                             SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_null(stmt_, index);
    }
    if (rc != SQLITE_OK) sqlite_fail(db_, rc, file_, "binding parameter " + std::to_string(index));
  }
}

bool SqlStatement::step(const std::string& what) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite_fail(db_, rc, file_, what);
}

SqlValue SqlStatement::column(int index) const {
  switch (sqlite3_column_type(stmt_, index)) {
    case SQLITE_INTEGER:
      return std::int64_t{sqlite3_column_int64(stmt_, index)};
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt_, index);
    case SQLITE_TEXT:
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index)),
                         static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)));
    case SQLITE_BLOB:
      return "<blob " + std::to_string(sqlite3_column_bytes(stmt_, index)) + " bytes>";
    default:
      return std::monostate{};
  }
}

SqlTransaction::SqlTransaction(sqlite3* db, const DbFile& file, const std::string& waited)
    : db_(db), file_(file) {
  sqlite_exec(db_, file_, "BEGIN IMMEDIATE", waited + " to start a write transaction");
}

SqlTransaction::~SqlTransaction() {
  if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqlTransaction::commit() {
  sqlite_exec(db_, file_, "COMMIT", "committing");
  done_ = true;
}

SqlInserter::SqlInserter(sqlite3* db, const DbFile& file, std::string table)
    : db_(db), file_(file), table_(std::move(table)) {}

void SqlInserter::insert(const SqlRow& row) {
  if (!statement_) {
    std::string columns, marks;
    for (const auto& [name, value] : row) {
      columns += (columns.empty() ? "" : ", ") + std::string(name);
      marks += marks.empty() ? "?" : ", ?";
      names_.push_back(name);
    }
    statement_ = std::make_unique<SqlStatement>(
        db_, file_, "INSERT INTO " + table_ + " (" + columns + ") VALUES (" + marks + ")");
  }
  if (row.size() != names_.size()) {
    throw Error(file_.label + ": a row of " + table_ + " has " + std::to_string(row.size()) +
                " columns, the first had " + std::to_string(names_.size()) + " (internal error)");
  }
  std::vector<SqlValue> values;
  values.reserve(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (names_[i] != row[i].first) {
      throw Error(file_.label + ": column " + row[i].first + " of " + table_ +
                  " is out of order (internal error)");
    }
    values.push_back(row[i].second);
  }
  statement_->bind(values);
  statement_->step("inserting into " + table_);
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace wormsim::analysis
