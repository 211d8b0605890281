// Package legacy imports a joining merchant's existing member points
// (issue 16): it reads CSV or JSON lines as a stream, reports by line what
// an import would do (a dry run), and commits the valid rows in chunks
// through the batching writer as points.ImportCommand, each row once.
//
// Memory does not grow with the file: the chunk, and the plan's external
// sort (spill.go) of the valid rows' fingerprints, which finds repeated
// rows and counts new members on scratch files; the file is read twice
// (plan, then commit), never held. An interrupted import resumes by
// running it again: the import's id is the file's SHA-256, and a row
// already imported is skipped by its record (points.PurchaseImport), never
// imported twice.
package legacy

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Formats.
const (
	CSV   = "csv"
	JSONL = "jsonl"
)

// Columns are the CSV header (in any order) and the JSON keys.
var Columns = []string{"kind", "value", "points", "earned_at", "expires_at"}

// MaxLine bounds one line (a longer one is an error for that line).
const MaxLine = 64 << 10

// Row is one parsed line: the import row, or why it is refused.
type Row struct {
	points.ImportRow
	Err error
}

// LineError is a refused line.
type LineError struct {
	Line          int
	Code, Message string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s: %s", e.Line, e.Code, e.Message) }

// Codes of lines refused while reading (the domain adds its own).
const (
	CodeEncoding = "invalid_encoding"
	CodeSyntax   = "malformed_row"
)

// Reader reads rows from a stream.
type Reader struct {
	format string
	br     *bufio.Reader
	line   int
	cols   map[string]int
	// Bytes counts what was read, for progress.
	Bytes int64
}

// NewReader reads format (CSV or JSONL) from r. A CSV stream starts with
// its header line.
func NewReader(r io.Reader, format string) (*Reader, error) {
	if format != CSV && format != JSONL {
		return nil, fmt.Errorf("legacy: unknown format %q (csv or jsonl)", format)
	}
	return &Reader{format: format, br: bufio.NewReaderSize(r, 256<<10)}, nil
}

// readLine returns the next line without its end, or io.EOF.
func (r *Reader) readLine() ([]byte, bool, error) {
	var buf []byte
	long := false
	for {
		chunk, isPrefix, err := r.br.ReadLine()
		r.Bytes += int64(len(chunk))
		if err != nil {
			if err == io.EOF && (len(buf) > 0 || long) {
				break
			}
			return nil, false, err
		}
		if !long {
			if len(buf)+len(chunk) > MaxLine {
				long, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if !isPrefix {
			r.Bytes++ // the newline
			break
		}
	}
	r.line++
	return buf, long, nil
}

// Next returns the next row (with Err set for a refused line), or io.EOF.
// Empty lines are skipped.
func (r *Reader) Next() (Row, error) {
	for {
		b, long, err := r.readLine()
		if err != nil {
			return Row{}, err
		}
		row := Row{ImportRow: points.ImportRow{Line: r.line}}
		fail := func(code, format string, a ...any) (Row, error) {
			row.Err = &LineError{Line: r.line, Code: code, Message: fmt.Sprintf(format, a...)}
			return row, nil
		}
		if long {
			return fail(CodeSyntax, "the line is longer than %d bytes", MaxLine)
		}
		if r.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a BOM
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return fail(CodeEncoding, "the line is not UTF-8 (export as UTF-8, never GBK)")
		}
		if r.format == CSV && r.cols == nil {
			if err := r.header(b); err != nil {
				return Row{}, err
			}
			continue
		}
		var f map[string]string
		if r.format == CSV {
			f, err = r.csvFields(b)
		} else {
			f, err = jsonFields(b)
		}
		if err != nil {
			return fail(CodeSyntax, "%v", err)
		}
		if row.Points, err = strconv.ParseInt(f["points"], 10, 64); err != nil {
			return fail(points.CodeInvalidPoints, "points %q is not a whole number", f["points"])
		}
		row.Member = points.Identity{Kind: f["kind"], Value: f["value"]}
		if row.EarnedAt, err = parseTime(f["earned_at"]); err != nil {
			return fail(points.CodeImportDates, "earned_at: %v", err)
		}
		if row.ExpiresAt, err = parseTime(f["expires_at"]); err != nil {
			return fail(points.CodeImportDates, "expires_at: %v", err)
		}
		return row, nil
	}
}

func (r *Reader) header(b []byte) error {
	rec, err := csv.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		return fmt.Errorf("legacy: line 1: the CSV header: %w", err)
	}
	r.cols = map[string]int{}
	for i, c := range rec {
		r.cols[strings.ToLower(strings.TrimSpace(c))] = i
	}
	for _, c := range Columns {
		if _, ok := r.cols[c]; !ok {
			return fmt.Errorf("legacy: line 1: the CSV header lacks %q (want %s)", c, strings.Join(Columns, ","))
		}
	}
	return nil
}

func (r *Reader) csvFields(b []byte) (map[string]string, error) {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = len(r.cols)
	rec, err := cr.Read()
	if err != nil {
		return nil, err
	}
	f := make(map[string]string, len(Columns))
	for _, c := range Columns {
		f[c] = strings.TrimSpace(rec[r.cols[c]])
	}
	return f, nil
}

func jsonFields(b []byte) (map[string]string, error) {
	var v struct {
		Kind      string      `json:"kind"`
		Value     string      `json:"value"`
		Points    json.Number `json:"points"`
		EarnedAt  string      `json:"earned_at"`
		ExpiresAt string      `json:"expires_at"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value on the line")
	}
	return map[string]string{"kind": v.Kind, "value": v.Value, "points": v.Points.String(), "earned_at": v.EarnedAt, "expires_at": v.ExpiresAt}, nil
}

// parseTime reads RFC 3339 or a date (midnight China Standard Time, where
// the alliance's merchants are).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil // CheckImportRow names it
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, cst)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t.UTC(), nil
}

var cst = time.FixedZone("CST", 8*3600)

// fingerprint identifies a row's content for finding duplicates.
func fingerprint(r points.ImportRow) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d", r.Member.Kind, r.Member.Value, r.Points, r.EarnedAt.UnixMicro(), r.ExpiresAt.UnixMicro())
	return h.Sum64()
}
