package legacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	// TempDir holds the plan's scratch files (default: os.TempDir()).
	TempDir string
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
	// Repeats are the lines repeating an earlier one, kept on disk:
	// Commit skips them. Close removes the file.
	Repeats *LineSet
}

// Close removes the report's scratch file.
func (r *Report) Close() error { return r.Repeats.Close() }

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

// Plan reads the whole file once: it checks every row, finds which
// members exist, and names the import by the file's SHA-256. It writes
// nothing to the database. Its memory does not grow with the file: the
// valid rows' fingerprints (to find repeated rows) and the new members'
// (to count them once) go through an external sort on scratch files in
// o.TempDir, and the repeated lines are kept on disk for Commit.
func Plan(ctx context.Context, members Members, svc *points.Service, src Source, o Options) (rep Report, err error) {
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
	// seen: k = the row's fingerprint, v = line<<1 | known member, w = points.
	seen, newIDs, repeats := newSorter(o.TempDir), newSorter(o.TempDir), newSorter(o.TempDir)
	defer seen.close()
	defer newIDs.close()
	defer repeats.close()
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
		sr := rec{k: fingerprint(r.ImportRow), v: uint64(r.Line) << 1, w: r.Points}
		if _, err := members.FindMember(ctx, o.MerchantID, r.Member); err == nil {
			rep.Matches++
			sr.v |= 1
		} else if errors.Is(err, points.ErrNotFound) {
			if err := newIDs.add(rec{k: fingerprint(points.ImportRow{Member: r.Member})}); err != nil {
				return Report{}, err
			}
		} else {
			return Report{}, err
		}
		if err := seen.add(sr); err != nil {
			return Report{}, err
		}
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
	// Repeats: the same content as an earlier line (in content order, then
	// line order, the first of each run is the original).
	var first rec
	var errs []*LineError
	if err := seen.each(func(r rec) error {
		if r.k != first.k || first.v == 0 {
			first = r
			return nil
		}
		line := int(r.v >> 1)
		rep.Valid--
		rep.Points -= r.w
		if r.v&1 == 1 {
			rep.Matches--
		}
		if len(rep.Errors)+len(errs) < MaxReported {
			errs = append(errs, &LineError{Line: line, Code: points.CodeImportDup, Message: fmt.Sprintf("the same row as line %d", first.v>>1)})
		}
		rep.ErrorCount++
		return repeats.add(rec{k: uint64(line)})
	}); err != nil {
		return Report{}, err
	}
	rep.Errors = append(rep.Errors, errs...)
	sort.Slice(rep.Errors, func(i, j int) bool { return rep.Errors[i].Line < rep.Errors[j].Line })
	if len(rep.Errors) > MaxReported { // keep the first lines
		rep.Errors = rep.Errors[:MaxReported]
	}
	var last uint64
	if err := newIDs.each(func(r rec) error {
		if rep.NewMembers == 0 || r.k != last {
			rep.NewMembers++
			last = r.k
		}
		return nil
	}); err != nil {
		return Report{}, err
	}
	if rep.Repeats, err = writeLineSet(o.TempDir, repeats); err != nil {
		return Report{}, err
	}
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
	plan.Repeats.rewind()
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
		if check(svc, r, now) != nil {
			continue // reported by the plan; nothing is committed for it
		}
		if again, err := plan.Repeats.Has(r.Line); err != nil {
			return res, err
		} else if again {
			continue
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
