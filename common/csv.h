// CSV as RFC 4180 defines it, for sluicectl's suppression export and import:
// a reader that turns bytes into records and a writer that renders one.
//
// Reader: fields separated by ',', records ended by CRLF or LF (or the end of
// input); a field may be enclosed in double quotes, and then holds ',', CR,
// LF and doubled quotes ("" for one '"'). A quote inside an unquoted field,
// anything but ',' or a line end after a closing quote, a bare CR outside
// quotes and an unterminated quoted field are errors. Empty physical lines
// are skipped (a record holding one empty field is written "").
// Every length is capped (CsvLimits); a cap is an error, not a truncation.
//
// Owns: only its buffer; no I/O, no global state. Feed it in pieces of any
// size (one byte at a time works). Errors (kInvalidInput for syntax, kTooLong
// for a cap) name the reason only; line() says where the record began.
// After an error the reader resynchronises (at the end of the record for a
// cap, at the next line end for syntax), so a caller can report every bad
// record in one pass.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice {

struct CsvLimits {
  std::size_t max_field_bytes = 4096;    // one field, unquoted
  std::size_t max_record_bytes = 65536;  // one record as written, quotes and line ends included
  std::size_t max_fields = 64;           // fields in one record
};

struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;  // physical line (1-based) where the record begins
};

class CsvReader {
 public:
  explicit CsvReader(CsvLimits limits = {});

  // Appends input bytes.
  void feed(std::string_view bytes);
  // Marks the end of input: a last record without a line end is complete.
  void finish();
  // The next complete record; nullopt when more input is needed (or, after
  // finish(), when there is none). An Error is one bad record; call again
  // for the next.
  Result<std::optional<CsvRecord>> next();
  // Physical line (1-based) where the last record or error began.
  std::size_t line() const { return record_line_; }

 private:
  enum class State { kRecordStart, kBlankCr, kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kCr, kSkipLine };
  enum class Step { kMore, kRecordEnd, kError };

  // Consumes one byte.
  Step step(char ch);
  // Appends to the current field, unless discarding; kError on the cap.
  Step append(char ch);
  // Ends the current field; kError when the field cap is hit.
  Step end_field();
  // Ends the current field and the record.
  Step end_record();
  // Records the error; a syntax error skips to the line end, a cap discards
  // the rest of the record.
  Step fail(Errc code, std::string reason);
  void reset_record();

  CsvLimits limits_;
  std::string buffer_;
  std::size_t pos_ = 0;
  bool finished_ = false;
  State state_ = State::kRecordStart;
  std::string field_;
  CsvRecord record_;
  std::size_t record_bytes_ = 0;
  std::size_t line_ = 1;  // current physical line
  std::size_t record_line_ = 0;
  std::optional<Error> error_;  // the error step() found, for next() to return
  bool discarding_ = false;     // a cap was hit: parse to the record end, keep nothing
};

// One field as written: quoted (with quotes doubled) when it holds ',', '"',
// CR or LF, or leading or trailing blanks; otherwise as is.
std::string format_csv_field(std::string_view field);
// One record, fields joined with ',' and ended with `eol` (RFC 4180: CRLF).
// A record of one empty field is written "" so that it is not a blank line.
std::string format_csv_record(const std::vector<std::string>& fields, std::string_view eol = "\r\n");

}  // namespace sluice
