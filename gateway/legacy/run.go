package legacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// Source opens the file (again for each pass) and tells its size.
type Source func() (io.ReadCloser, int64, error)

// Members finds existing members (the store's FindMember).
type Members interface {
	FindMember(ctx context.Context, merchantID string, id points.Identity) (string, error)
}

// Options of a plan and a commit.
type Options struct {
	MerchantID  string
	Format      string
	MinValidity time.Duration
	// Chunk is rows per command (default 500).
	Chunk int
	Now   func() time.Time
	// Progress is told bytes read of the file's size, per phase.
	Progress func(phase string, done, total int64)
}

func (o *Options) defaults() {
	if o.Chunk <= 0 {
		o.Chunk = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = func(string, int64, int64) {}
	}
}

// MaxReported bounds the line errors a report keeps (all are counted).
const MaxReported = 10000

// Report is what a dry run found.
type Report struct {
	ImportID   string
	Rows       int // lines with a row (not the header, not empty)
	Valid      int
	Points     int64 // of the valid rows
	Matches    int   // valid rows of members the alliance already knows
	NewMembers int   // distinct identities that will become members
	ErrorCount int
	Errors     []*LineError // the first MaxReported, in line order
	// Repeats are the lines repeating an earlier one: Commit skips them.
	Repeats map[int]bool
}

// check validates one row's reading and form (repeats are found by Plan).
func check(svc *points.Service, r Row, now time.Time) *LineError {
	if r.Err != nil {
		var le *LineError
		if errors.As(r.Err, &le) {
			return le
		}
		return &LineError{Line: r.Line, Code: CodeSyntax, Message: r.Err.Error()}
	}
	if err := svc.CheckImportRow(r.ImportRow, now); err != nil {
		var pe *points.Error
		if errors.As(err, &pe) {
			return &LineError{Line: r.Line, Code: pe.Code, Message: pe.Message}
		}
		return &LineError{Line: r.Line, Code: CodeSyntax, Message: err.Error()}
	}
	return nil
}

// seenRow is what Plan keeps of a valid row to find repeats once the file
// is read: 24 bytes, where a map entry costs about twice that.
type seenRow struct {
	fp     uint64
	points int64
	line   int32
	known  bool // the member exists
}

// Plan reads the whole file once: it checks every row, finds which
// members exist, and names the import by the file's SHA-256. It writes
// nothing.
func Plan(ctx context.Context, members Members, svc *points.Service, src Source, o Options) (Report, error) {
	o.defaults()
	f, size, err := src()
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	h := sha256.New()
	rd, err := NewReader(io.TeeReader(f, h), o.Format)
	if err != nil {
		return Report{}, err
	}
	now := o.Now()
	rep := Report{Repeats: map[int]bool{}}
	var rows []seenRow
	var newIDs []uint64
	for n := 0; ; n++ {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Report{}, err
		}
		rep.Rows++
		if le := check(svc, r, now); le != nil {
			rep.add(le)
			continue
		}
		rep.Valid++
		rep.Points += r.Points
		sr := seenRow{fp: fingerprint(r.ImportRow), points: r.Points, line: int32(r.Line)}
		if _, err := members.FindMember(ctx, o.MerchantID, r.Member); err == nil {
			rep.Matches++
			sr.known = true
		} else if errors.Is(err, points.ErrNotFound) {
			newIDs = append(newIDs, fingerprint(points.ImportRow{Member: r.Member}))
		} else {
			return Report{}, err
		}
		rows = append(rows, sr)
		if n%1024 == 0 {
			o.Progress("checking", rd.Bytes, size)
			if err := ctx.Err(); err != nil {
				return Report{}, err
			}
		}
	}
	o.Progress("checking", size, size)
	if _, err := io.Copy(h, f); err != nil { // anything after the last line
		return Report{}, err
	}
	// Repeats: the same content as an earlier line (sorted by content,
	// then line, the first of each run is the original).
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].fp != rows[j].fp {
			return rows[i].fp < rows[j].fp
		}
		return rows[i].line < rows[j].line
	})
	for i := 1; i < len(rows); i++ {
		if rows[i].fp != rows[i-1].fp {
			continue
		}
		first := i - 1
		for first > 0 && rows[first-1].fp == rows[i].fp {
			first--
		}
		d := rows[i]
		rep.Repeats[int(d.line)] = true
		rep.Valid--
		rep.Points -= d.points
		if d.known {
			rep.Matches--
		}
		rep.add(&LineError{Line: int(d.line), Code: points.CodeImportDup, Message: fmt.Sprintf("the same row as line %d", rows[first].line)})
	}
	rows = nil
	sort.Slice(rep.Errors, func(i, j int) bool { return rep.Errors[i].Line < rep.Errors[j].Line })
	slices.Sort(newIDs)
	rep.NewMembers = len(slices.Compact(newIDs))
	rep.ImportID = "imp_" + hex.EncodeToString(h.Sum(nil))[:32]
	return rep, nil
}

func (r *Report) add(le *LineError) {
	r.ErrorCount++
	if len(r.Errors) < MaxReported {
		r.Errors = append(r.Errors, le)
	}
}

// Result is what a commit did.
type Result struct {
	Imported, Skipped int
	Points            int64
}

// Commit imports the file's valid rows under the plan's import id, in
// chunks of o.Chunk rows, each chunk one command given to submit (the
// writer). A row imported by an earlier, interrupted run is skipped.
func Commit(ctx context.Context, svc *points.Service, submit func(points.Command) (any, error), src Source, plan Report, o Options) (Result, error) {
	importID := plan.ImportID
	o.defaults()
	f, size, err := src()
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	rd, err := NewReader(f, o.Format)
	if err != nil {
		return Result{}, err
	}
	now := o.Now()
	var res Result
	chunk := make([]points.ImportRow, 0, o.Chunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		v, err := submit(svc.ImportCommand(points.ImportRequest{MerchantID: o.MerchantID, ImportID: importID, Rows: chunk, MinValidity: o.MinValidity}))
		if err != nil {
			return fmt.Errorf("lines %d-%d: %w", chunk[0].Line, chunk[len(chunk)-1].Line, err)
		}
		r, _ := v.(points.ImportResult)
		res.Imported += r.Imported
		res.Skipped += r.Skipped
		res.Points += r.Points
		chunk = chunk[:0]
		o.Progress("importing", rd.Bytes, size)
		return ctx.Err()
	}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if check(svc, r, now) != nil || plan.Repeats[r.Line] {
			continue // reported by the plan; nothing is committed for it
		}
		chunk = append(chunk, r.ImportRow)
		if len(chunk) == o.Chunk {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	o.Progress("importing", size, size)
	return res, nil
}
