// Package walvfs registers a SQLite VFS that writes a transaction's WAL
// frames with one system call instead of two per page.
//
// SQLite appends each page to the write-ahead log as two pwrite(2) calls, a
// 24-byte frame header and the page, and modernc's pure-Go build makes each
// one a Go system call. On the 2-core machines the gateway is measured on a
// 4 KiB pwrite costs 3–6 µs, so a batch of earns that dirties a few hundred
// pages spends most of its commit in the kernel: the writer connection's
// commit was 44% of the batching writer's CPU (issue 18). Coalesced into
// one write, the same frames cost about an eighth.
//
// The VFS wraps the platform's default one ("unix") as a shim, the way
// SQLite's own vfstrace does: every method passes through to the real file,
// except that writes to a WAL file are gathered while they are contiguous
// and written together:
//
//   - when a commit frame is complete (the frame header whose "database
//     size after commit" field is non-zero, then its page): the write that
//     completes it returns the coalesced write's result, so a failure
//     (ENOSPC, EIO) fails the commit as it did before, and the frames are in
//     the file before SQLite publishes the new WAL-index header that makes
//     them visible to readers in this or any other process;
//   - before any other access to the WAL file (read, size, truncate, sync,
//     close), before a write that is not contiguous, and when the buffer is
//     full;
//   - on every shared-memory barrier of the database file (xShmBarrier,
//     which SQLite calls before it publishes a WAL-index header), as a
//     second guard.
//
// Durability is unchanged: SQLite writes nothing to the WAL that it would
// not have written, in the same order, and the caller's sync (the store's
// group commit, or SQLite's own xSync, which flushes first) covers it. Writes
// to the database file itself (checkpoints) pass through unchanged.
package walvfs

import (
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// Name is the VFS's name, for a DSN's vfs parameter.
const Name = "lianmeng-wal"

// bufferSize bounds the bytes gathered for one write: 31 frames of 4 KiB.
// It must stay below 128 KiB: the unix VFS masks each pwrite's length with
// 0x1ffff (seekAndWriteFd), so a write of exactly 128 KiB would write
// nothing and report the disk full.
const bufferSize = 0x1ffff

// frameHeaderSize is a WAL frame header's size; its bytes 4–7 hold the
// database size in pages after a commit, zero for other frames.
const frameHeaderSize = 24

// The shim's part of each open file, before the wrapped one: its methods
// pointer, its handle in files, and its kind.
const (
	word      = unsafe.Sizeof(uintptr(0))
	hdrSize   = 3 * word
	kindOther = 0
	kindMain  = 1
	kindWAL   = 2
)

var (
	registerOnce sync.Once
	registerErr  error

	realVFS uintptr // the wrapped sqlite3_vfs
	shimVFS sqlite3.Tsqlite3_vfs
	methods sqlite3.Tsqlite3_io_methods

	mu     sync.Mutex
	next   uintptr
	files  = map[uintptr]*file{}  // by handle
	byPath = map[string][]*file{} // WAL files by path
)

// file is the shim's state for one open file.
type file struct {
	real uintptr // the wrapped sqlite3_file
	path string
	wal  bool
	// dbWAL is, for a main database file, the path of its WAL.
	dbWAL string

	mu      sync.Mutex
	buf     uintptr // C memory, bufferSize bytes; 0 until the first write
	n       int     // bytes gathered
	off     int64   // file offset of buf[0]
	commit  bool    // the last header gathered was a commit frame's
	written Stats
}

// Stats counts a WAL file's writes: as SQLite asked for them and as made.
type Stats struct {
	Requested, Made int64
	// Late counts writes made by the shared-memory barrier: frames a
	// commit should already have written. Only a rolled-back
	// transaction's spilled frames may legitimately be found there.
	Late int64
}

// Register registers the VFS once per process; later calls return the
// first result. It does not become the default VFS.
func Register() error {
	registerOnce.Do(func() { registerErr = register() })
	return registerErr
}

func register() error {
	tls := libc.NewTLS()
	defer tls.Close()
	realVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
	if realVFS == 0 {
		return fmt.Errorf("walvfs: no default SQLite VFS")
	}
	wrapped := (*sqlite3.Tsqlite3_vfs)(ptr(realVFS))
	shimVFS = *wrapped
	shimVFS.FszOsFile = wrapped.FszOsFile + int32(hdrSize)
	shimVFS.FpNext = 0
	name, err := libc.CString(Name)
	if err != nil {
		return fmt.Errorf("walvfs: %w", err)
	}
	shimVFS.FzName = name
	*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&shimVFS.FxOpen)) = xOpen

	methods.FiVersion = 3
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&methods.FxClose)) = xClose
	*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&methods.FxRead)) = xRead
	*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&methods.FxWrite)) = xWrite
	*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&methods.FxTruncate)) = xTruncate
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&methods.FxSync)) = xSync
	*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&methods.FxFileSize)) = xFileSize
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&methods.FxLock)) = xLock
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&methods.FxUnlock)) = xUnlock
	*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&methods.FxCheckReservedLock)) = xCheckReservedLock
	*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&methods.FxFileControl)) = xFileControl
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&methods.FxSectorSize)) = xSectorSize
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&methods.FxDeviceCharacteristics)) = xDeviceCharacteristics
	*(*func(*libc.TLS, uintptr, int32, int32, int32, uintptr) int32)(unsafe.Pointer(&methods.FxShmMap)) = xShmMap
	*(*func(*libc.TLS, uintptr, int32, int32, int32) int32)(unsafe.Pointer(&methods.FxShmLock)) = xShmLock
	*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&methods.FxShmBarrier)) = xShmBarrier
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&methods.FxShmUnmap)) = xShmUnmap
	*(*func(*libc.TLS, uintptr, int64, int32, uintptr) int32)(unsafe.Pointer(&methods.FxFetch)) = xFetch
	*(*func(*libc.TLS, uintptr, int64, uintptr) int32)(unsafe.Pointer(&methods.FxUnfetch)) = xUnfetch

	if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&shimVFS)), 0); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("walvfs: register: SQLite error %d", rc)
	}
	return nil
}

// ptr turns an address SQLite gave us into a pointer. The memory is
// SQLite's (modernc's C heap), never Go's, so the collector neither moves
// nor frees it.
func ptr(p uintptr) unsafe.Pointer {
	return unsafe.Pointer(&libc.GoBytes(p, 1)[0])
}

func load(p uintptr) uintptr         { return *(*uintptr)(ptr(p)) }
func storeWord(p uintptr, v uintptr) { *(*uintptr)(ptr(p)) = v }

// realMethods is the wrapped file's method table.
func realMethods(real uintptr) *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(ptr(load(real)))
}

func lookup(pFile uintptr) *file {
	h := load(pFile + word)
	mu.Lock()
	f := files[h]
	mu.Unlock()
	return f
}

func xOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	in := inner(pFile)
	storeWord(pFile, 0)
	storeWord(pFile+word, 0)
	storeWord(pFile+2*word, kindOther)
	storeWord(in, 0)
	open := (*sqlite3.Tsqlite3_vfs)(ptr(realVFS)).FxOpen
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&open)))(tls, realVFS, zName, in, flags, pOutFlags)
	if load(in) == 0 {
		return rc // not opened: SQLite must not call xClose
	}
	f := &file{real: in}
	if zName != 0 {
		f.path = libc.GoString(zName)
	}
	switch {
	case flags&sqlite3.SQLITE_OPEN_WAL != 0:
		f.wal = true
	case flags&sqlite3.SQLITE_OPEN_MAIN_DB != 0:
		f.dbWAL = f.path + "-wal"
	}
	mu.Lock()
	next++
	h := next
	files[h] = f
	if f.wal {
		byPath[f.path] = append(byPath[f.path], f)
	}
	mu.Unlock()
	storeWord(pFile+word, h)
	switch {
	case f.wal:
		storeWord(pFile+2*word, kindWAL)
	case f.dbWAL != "":
		storeWord(pFile+2*word, kindMain)
	}
	storeWord(pFile, uintptr(unsafe.Pointer(&methods)))
	return rc
}

// flush writes what is gathered. The caller holds f.mu.
func (f *file) flush(tls *libc.TLS) int32 {
	if f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	n, off := f.n, f.off
	f.n = 0
	f.written.Made++
	w := realMethods(f.real).FxWrite
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&w)))(tls, f.real, f.buf, int32(n), off)
}

func (f *file) flushLocked(tls *libc.TLS) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flush(tls)
}

func xWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if load(pFile+2*word) != kindWAL {
		w := realMethods(inner(pFile)).FxWrite
		return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&w)))(tls, inner(pFile), zBuf, iAmt, iOfst)
	}
	f := lookup(pFile)
	if f == nil || iAmt <= 0 || int(iAmt) > bufferSize {
		if f != nil {
			if rc := f.flushLocked(tls); rc != sqlite3.SQLITE_OK {
				return rc
			}
			f.mu.Lock()
			f.written.Requested++
			f.written.Made++
			f.mu.Unlock()
		}
		w := realMethods(inner(pFile)).FxWrite
		return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&w)))(tls, inner(pFile), zBuf, iAmt, iOfst)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written.Requested++
	if f.n > 0 && (iOfst != f.off+int64(f.n) || f.n+int(iAmt) > bufferSize) {
		if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if f.buf == 0 {
		if f.buf = libc.Xmalloc(tls, types.Size_t(bufferSize)); f.buf == 0 {
			return sqlite3.SQLITE_NOMEM
		}
	}
	if f.n == 0 {
		f.off = iOfst
	}
	src := libc.GoBytes(zBuf, int(iAmt))
	copy(libc.GoBytes(f.buf, bufferSize)[f.n:], src)
	f.n += int(iAmt)
	if iAmt == frameHeaderSize {
		// A frame header: bytes 4–7 are the database size after a commit.
		f.commit = src[4]|src[5]|src[6]|src[7] != 0
		return sqlite3.SQLITE_OK
	}
	if f.commit {
		// The commit frame's page (or a part of it): write the
		// transaction now, before SQLite makes it visible, and answer for
		// the write. The flag stays until the next frame header, so every
		// part of the page is written at once, also when gathering it
		// flushed the header first.
		return f.flush(tls)
	}
	return sqlite3.SQLITE_OK
}

// inner is the wrapped file of a shim file.
func inner(pFile uintptr) uintptr { return pFile + hdrSize }

// before flushes a WAL file before an access that must see its writes.
func before(tls *libc.TLS, pFile uintptr) int32 {
	if load(pFile+2*word) != kindWAL {
		return sqlite3.SQLITE_OK
	}
	if f := lookup(pFile); f != nil {
		return f.flushLocked(tls)
	}
	return sqlite3.SQLITE_OK
}

func xClose(tls *libc.TLS, pFile uintptr) int32 {
	rc := before(tls, pFile)
	h := load(pFile + word)
	mu.Lock()
	f := files[h]
	delete(files, h)
	if f != nil && f.wal {
		list := byPath[f.path]
		for i, g := range list {
			if g == f {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(byPath, f.path)
		} else {
			byPath[f.path] = list
		}
	}
	mu.Unlock()
	if f != nil && f.buf != 0 {
		libc.Xfree(tls, f.buf)
		f.buf = 0
	}
	c := realMethods(inner(pFile)).FxClose
	if rc2 := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&c)))(tls, inner(pFile)); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	storeWord(pFile, 0)
	return rc
}

func xRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := before(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	fn := realMethods(inner(pFile)).FxRead
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), zBuf, iAmt, iOfst)
}

func xTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := before(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	fn := realMethods(inner(pFile)).FxTruncate
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), size)
}

func xSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := before(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	fn := realMethods(inner(pFile)).FxSync
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), flags)
}

func xFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := before(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	fn := realMethods(inner(pFile)).FxFileSize
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), pSize)
}

func xLock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	fn := realMethods(inner(pFile)).FxLock
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), lock)
}

func xUnlock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	fn := realMethods(inner(pFile)).FxUnlock
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), lock)
}

func xCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	fn := realMethods(inner(pFile)).FxCheckReservedLock
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), pResOut)
}

func xFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	if rc := before(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	fn := realMethods(inner(pFile)).FxFileControl
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), op, pArg)
}

func xSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	fn := realMethods(inner(pFile)).FxSectorSize
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile))
}

func xDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	fn := realMethods(inner(pFile)).FxDeviceCharacteristics
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile))
}

func xShmMap(tls *libc.TLS, pFile uintptr, iPg, pgsz, bExtend int32, pp uintptr) int32 {
	m := realMethods(inner(pFile))
	if m.FiVersion < 2 || m.FxShmMap == 0 {
		return sqlite3.SQLITE_IOERR_SHMMAP
	}
	fn := m.FxShmMap
	return (*(*func(*libc.TLS, uintptr, int32, int32, int32, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), iPg, pgsz, bExtend, pp)
}

func xShmLock(tls *libc.TLS, pFile uintptr, offset, n, flags int32) int32 {
	m := realMethods(inner(pFile))
	if m.FiVersion < 2 || m.FxShmLock == 0 {
		return sqlite3.SQLITE_IOERR_SHMLOCK
	}
	fn := m.FxShmLock
	return (*(*func(*libc.TLS, uintptr, int32, int32, int32) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), offset, n, flags)
}

// xShmBarrier comes before SQLite publishes a WAL-index header: whatever
// this database's WAL files still gather goes to the file first.
func xShmBarrier(tls *libc.TLS, pFile uintptr) {
	if load(pFile+2*word) == kindMain {
		if f := lookup(pFile); f != nil {
			mu.Lock()
			wals := append([]*file(nil), byPath[f.dbWAL]...)
			mu.Unlock()
			for _, w := range wals {
				// A failure here has nowhere to go (the barrier returns
				// nothing); the commit frame's own flush has already
				// answered for the transaction, so this only ever finds
				// frames of a transaction SQLite rolled back.
				w.mu.Lock()
				if w.n > 0 {
					w.written.Late++
				}
				_ = w.flush(tls)
				w.mu.Unlock()
			}
		}
	}
	m := realMethods(inner(pFile))
	if m.FiVersion >= 2 && m.FxShmBarrier != 0 {
		fn := m.FxShmBarrier
		(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&fn)))(tls, inner(pFile))
	}
}

func xShmUnmap(tls *libc.TLS, pFile uintptr, deleteFlag int32) int32 {
	m := realMethods(inner(pFile))
	if m.FiVersion < 2 || m.FxShmUnmap == 0 {
		return sqlite3.SQLITE_OK
	}
	fn := m.FxShmUnmap
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), deleteFlag)
}

func xFetch(tls *libc.TLS, pFile uintptr, iOfst int64, iAmt int32, pp uintptr) int32 {
	m := realMethods(inner(pFile))
	if m.FiVersion < 3 || m.FxFetch == 0 {
		storeWord(pp, 0)
		return sqlite3.SQLITE_OK
	}
	fn := m.FxFetch
	return (*(*func(*libc.TLS, uintptr, int64, int32, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), iOfst, iAmt, pp)
}

func xUnfetch(tls *libc.TLS, pFile uintptr, iOfst int64, p uintptr) int32 {
	m := realMethods(inner(pFile))
	if m.FiVersion < 3 || m.FxUnfetch == 0 {
		return sqlite3.SQLITE_OK
	}
	fn := m.FxUnfetch
	return (*(*func(*libc.TLS, uintptr, int64, uintptr) int32)(unsafe.Pointer(&fn)))(tls, inner(pFile), iOfst, p)
}

// WALStats sums the writes to the WAL files open at path+"-wal" (for
// tests and benchmarks): as SQLite asked for them, and as made.
func WALStats(dbPath string) Stats {
	mu.Lock()
	list := append([]*file(nil), byPath[dbPath+"-wal"]...)
	mu.Unlock()
	var s Stats
	for _, f := range list {
		f.mu.Lock()
		s.Requested += f.written.Requested
		s.Made += f.written.Made
		s.Late += f.written.Late
		f.mu.Unlock()
	}
	return s
}
