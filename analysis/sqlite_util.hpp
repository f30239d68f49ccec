#pragma once
// Small RAII layer over the sqlite3 C API shared by the results DB and the ttnn-visualizer
// report writer: statements, IMMEDIATE transactions that roll back unless committed, row
// inserters, and SQLite errors turned into wormsim::Error naming the file and the fix.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace wormsim::analysis {

using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;

// A database file as error messages name it.
struct DbFile {
  std::filesystem::path path;
  std::string label;           // "results database"
  std::string other_file_fix;  // "write to another file with --db PATH (or --no-db)"
};

// Throws the wormsim::Error for SQLite result `rc` (busy / locked, unwritable, not a database,
// ...).
[[noreturn]] void sqlite_fail(sqlite3* db, int rc, const DbFile& file, const std::string& what);
void sqlite_exec(sqlite3* db, const DbFile& file, const std::string& sql, const std::string& what);

class SqlStatement {
 public:
  SqlStatement(sqlite3* db, const DbFile& file, const std::string& sql);
  SqlStatement(const SqlStatement&) = delete;
  SqlStatement& operator=(const SqlStatement&) = delete;
  ~SqlStatement();

  sqlite3_stmt* get() const noexcept { return stmt_; }
  const std::string& tail() const noexcept { return tail_; }  // SQL after the first statement
  void bind(const std::vector<SqlValue>& values);
  bool step(const std::string& what);  // true while rows come back
  SqlValue column(int index) const;

 private:
  sqlite3* db_;
  DbFile file_;
  sqlite3_stmt* stmt_{nullptr};
  std::string tail_;
};

// BEGIN IMMEDIATE (waits up to the connection's busy timeout); rolls back unless committed.
class SqlTransaction {
 public:
  SqlTransaction(sqlite3* db, const DbFile& file, const std::string& waited);
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  ~SqlTransaction();
  void commit();

 private:
  sqlite3* db_;
  DbFile file_;
  bool done_{false};
};

using SqlRow = std::vector<std::pair<const char*, SqlValue>>;

// INSERTs rows into one table; the first row fixes the column list.
class SqlInserter {
 public:
  SqlInserter(sqlite3* db, const DbFile& file, std::string table);
  void insert(const SqlRow& row);

 private:
  sqlite3* db_;
  DbFile file_;
  std::string table_;
  std::vector<std::string> names_;
  std::unique_ptr<SqlStatement> statement_;
};

inline SqlValue sql_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }
inline SqlValue sql_real(double v) { return v; }
inline SqlValue sql_text(std::string v) { return v; }
inline SqlValue sql_opt(const std::optional<double>& v) { return v ? SqlValue(*v) : SqlValue(); }
inline SqlValue sql_opt_text(const std::string& v) { return v.empty() ? SqlValue() : SqlValue(v); }

// "2025-01-31T12:00:00Z"
std::string utc_timestamp();

}  // namespace wormsim::analysis
