package docs

// This test keeps architecture.md true as code moves. It reads the
// document's inline code spans (fenced blocks are illustrations and are
// skipped) and checks those that name something in the repository:
//
//   - a path: a span starting with gateway/, sdk/, plugins/, adapters/,
//     docs/, scripts/ or configs/ must exist (a trailing /... names a
//     directory tree);
//   - a Go name: pkg.Name (a package-level type, func, var or const),
//     pkg.Type.Member (a method, a struct field, an interface method, also
//     promoted through embedding and followed through type aliases), and
//     (*pkg.Type).Method or (pkg.Type).Method (a method). The package is
//     named by its directory: its last element (store, points, lianmeng
//     for gateway/cmd/lianmeng) or a longer tail (cmd/lianmeng,
//     sdk/evidence); when several directories match, the name may be in
//     any of them. Type.Member without a package (uow.apply) is looked up
//     in every package. A trailing () is allowed. Names qualified by a
//     package from outside the module (context.WithTimeout, fiber.Ctx) are
//     not checked.
//
// Spans of any other shape (account names, headers, SQL, commands) are not
// checked, nor are bare file names (writer.go) or unqualified single
// names: qualify a name to have it checked. Names that do not exist yet
// (planned packages) are written in italics, never as code.
//
// It also checks the package table: every package's imports inside the
// module (non-test files) must be listed in its "may import" column, and
// a row that says "standard library only" may import nothing else from
// outside the module.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

const mapFile = "architecture.md"

// ---- the repository index

// index is every Go package of the repository (all modules), parsed once.
type index struct {
	root   string
	module string               // module path of the root go.mod
	pkgs   map[string]*goPkg    // by slash-separated directory, relative to root
	types  map[string][]typeRef // type name -> where it is declared
	// external are the local names of imports from outside the module
	// (context, fiber, sqlx, ...): context.WithTimeout is not checked.
	external map[string]bool
	loaded   int // files parsed
}

type goPkg struct {
	dir     string
	decls   map[string]bool
	types   map[string]*goType
	imports map[string]bool // import paths of non-test files
}

type goType struct {
	fields  map[string]bool
	methods map[string]bool // methods with any receiver, interface methods
	embeds  []typeRef       // embedded types and an alias's target
}

type typeRef struct{ dir, name string }

var (
	indexOnce sync.Once
	theIndex  *index
	indexErr  error
)

func repoIndex(t *testing.T) *index {
	t.Helper()
	indexOnce.Do(func() { theIndex, indexErr = loadIndex("..") })
	if indexErr != nil {
		t.Fatal(indexErr)
	}
	return theIndex
}

func loadIndex(root string) (*index, error) {
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("the repository root: %w", err)
	}
	ix := &index{root: root, pkgs: map[string]*goPkg{}, types: map[string][]typeRef{}, external: map[string]bool{}}
	for _, line := range strings.Split(string(gomod), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			ix.module = strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	if ix.module == "" {
		return nil, fmt.Errorf("no module line in %s/go.mod", root)
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ix.loaded++
		ix.add(filepath.ToSlash(rel), f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

func (ix *index) pkg(dir string) *goPkg {
	p := ix.pkgs[dir]
	if p == nil {
		p = &goPkg{dir: dir, decls: map[string]bool{}, types: map[string]*goType{}, imports: map[string]bool{}}
		ix.pkgs[dir] = p
	}
	return p
}

func (p *goPkg) typ(name string) *goType {
	t := p.types[name]
	if t == nil {
		t = &goType{fields: map[string]bool{}, methods: map[string]bool{}}
		p.types[name] = t
	}
	return t
}

// add records one file's declarations.
func (ix *index) add(dir string, f *ast.File) {
	p := ix.pkg(dir)
	imports := map[string]string{} // local name -> directory, for module imports
	for _, imp := range f.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		p.imports[path] = true
		local := importName(path)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if d, ok := strings.CutPrefix(path, ix.module+"/"); ok {
			imports[local] = d
		} else if local != "_" && local != "." {
			ix.external[local] = true
		}
	}
	// ref resolves a type expression to a type of the repository.
	ref := func(e ast.Expr) (typeRef, bool) {
		for {
			switch x := e.(type) {
			case *ast.StarExpr:
				e = x.X
			case *ast.IndexExpr:
				e = x.X
			case *ast.IndexListExpr:
				e = x.X
			case *ast.Ident:
				return typeRef{dir, x.Name}, true
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && imports[id.Name] != "" {
					return typeRef{imports[id.Name], x.Sel.Name}, true
				}
				return typeRef{}, false
			default:
				return typeRef{}, false
			}
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				p.decls[d.Name.Name] = true
				continue
			}
			if r, ok := ref(d.Recv.List[0].Type); ok {
				p.typ(r.name).methods[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						p.decls[n.Name] = true
					}
				case *ast.TypeSpec:
					name := s.Name.Name
					p.decls[name] = true
					t := p.typ(name)
					ix.types[name] = append(ix.types[name], typeRef{dir, name})
					if s.Assign.IsValid() { // an alias: its members are its target's
						if r, ok := ref(s.Type); ok {
							t.embeds = append(t.embeds, r)
						}
						continue
					}
					switch st := s.Type.(type) {
					case *ast.StructType:
						for _, fld := range st.Fields.List {
							for _, n := range fld.Names {
								t.fields[n.Name] = true
							}
							if len(fld.Names) == 0 {
								if r, ok := ref(fld.Type); ok {
									t.fields[r.name] = true
									t.embeds = append(t.embeds, r)
								}
							}
						}
					case *ast.InterfaceType:
						for _, m := range st.Methods.List {
							for _, n := range m.Names {
								t.methods[n.Name] = true
							}
							if len(m.Names) == 0 {
								if r, ok := ref(m.Type); ok {
									t.embeds = append(t.embeds, r)
								}
							}
						}
					}
				}
			}
		}
	}
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// importName is the name an import is used by when it is not renamed:
// its last element, without a major version (fiber/v2, yaml.v3).
func importName(path string) string {
	elems := strings.Split(path, "/")
	last := elems[len(elems)-1]
	if majorVersion.MatchString(last) && len(elems) > 1 {
		last = elems[len(elems)-2]
	}
	if i := strings.Index(last, ".v"); i > 0 {
		last = last[:i]
	}
	return last
}

// packagesNamed returns the package directories a qualifier names: the
// directory itself or any directory ending in /qualifier.
func (ix *index) packagesNamed(q string) []string {
	var out []string
	for dir := range ix.pkgs {
		if dir == q || strings.HasSuffix(dir, "/"+q) {
			out = append(out, dir)
		}
	}
	sort.Strings(out)
	return out
}

// hasMember reports whether type name of dir has member m (a method only,
// if methodOnly), directly, promoted from an embedded type, or through an
// alias.
func (ix *index) hasMember(r typeRef, m string, methodOnly bool, depth int) bool {
	p := ix.pkgs[r.dir]
	if p == nil || depth > 8 {
		return false
	}
	t := p.types[r.name]
	if t == nil {
		return false
	}
	if t.methods[m] || !methodOnly && t.fields[m] {
		return true
	}
	for _, e := range t.embeds {
		if ix.hasMember(e, m, methodOnly, depth+1) {
			return true
		}
	}
	return false
}

// ---- references in the document

type span struct {
	line int
	text string
}

var inlineCode = regexp.MustCompile("`([^`\n]+)`")

// codeSpans returns the inline code spans of a Markdown text, outside
// fenced code blocks.
func codeSpans(md string) []span {
	var out []span
	fenced := false
	for i, line := range strings.Split(md, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "```") || strings.HasPrefix(trim, "~~~") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
			out = append(out, span{i + 1, strings.TrimSpace(m[1])})
		}
	}
	return out
}

var (
	pathPrefixes = []string{"gateway/", "sdk/", "plugins/", "adapters/", "docs/", "scripts/", "configs/"}
	fileSuffixes = []string{".go", ".md", ".sql", ".yaml", ".yml", ".sh", ".json", ".proto", ".mod", ".sum"}
	goIdent      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	qualifier    = regexp.MustCompile(`^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$`)
	methodForm   = regexp.MustCompile(`^\(\*?([^()\s]+)\)\.([A-Za-z_][A-Za-z0-9_]*)$`)
)

// result of checking one span.
type result int

const (
	ignored result = iota // not a reference the map promises
	found
	missing
)

// check checks one code span; problem explains a missing reference.
func (ix *index) check(s string) (result, string) {
	if strings.ContainsAny(s, " \t") {
		return ignored, ""
	}
	for _, pre := range pathPrefixes {
		if strings.HasPrefix(s, pre) {
			return ix.checkPath(s)
		}
	}
	for _, suf := range fileSuffixes {
		if strings.HasSuffix(s, suf) {
			return ignored, "" // a bare file name: write its path to have it checked
		}
	}
	return ix.checkName(s, false)
}

func (ix *index) checkPath(s string) (result, string) {
	p := strings.TrimSuffix(strings.TrimSuffix(s, "/..."), "/")
	if _, err := os.Stat(filepath.Join(ix.root, filepath.FromSlash(p))); err == nil {
		return found, ""
	}
	// gateway/store.Writer, sdk/evidence.Log: a name qualified by a path.
	if r, problem := ix.checkName(s, true); r != ignored {
		return r, problem
	}
	return missing, "no such file or directory"
}

// checkName checks a Go name reference. With pathQualified the qualifier
// must name a package, or the span is not a name.
func (ix *index) checkName(s string, pathQualified bool) (result, string) {
	s = strings.TrimSuffix(s, "()")
	if m := methodForm.FindStringSubmatch(s); m != nil {
		recv, method := m[1], m[2]
		q, typ, ok := strings.Cut(recv, ".")
		if !ok {
			q, typ = "", recv
		}
		if !goIdent.MatchString(typ) || q != "" && !qualifier.MatchString(q) {
			return ignored, ""
		}
		return ix.member(q, typ, method, true, pathQualified)
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 || !qualifier.MatchString(parts[0]) && !goIdent.MatchString(parts[0]) {
		return ignored, ""
	}
	for _, p := range parts[1:] {
		if !goIdent.MatchString(p) {
			return ignored, ""
		}
	}
	if len(parts) == 3 {
		return ix.member(parts[0], parts[1], parts[2], false, pathQualified)
	}
	q, name := parts[0], parts[1]
	if dirs := ix.packagesNamed(q); len(dirs) > 0 {
		for _, d := range dirs {
			if ix.pkgs[d].decls[name] {
				return found, ""
			}
		}
		return missing, fmt.Sprintf("no %s in %s", name, strings.Join(dirs, " or "))
	}
	if pathQualified || ix.external[q] {
		return ignored, ""
	}
	if refs := ix.types[q]; len(refs) > 0 { // Type.Member, package unnamed
		for _, r := range refs {
			if ix.hasMember(r, name, false, 0) {
				return found, ""
			}
		}
		return missing, fmt.Sprintf("no type %s has a member %s", q, name)
	}
	if isExported(name) { // pkg.Name with an unknown package
		return missing, fmt.Sprintf("no package or type named %s", q)
	}
	return ignored, "" // foo.bar: not a Go name
}

// member checks q.typ.m (q may be empty: any package).
func (ix *index) member(q, typ, m string, methodOnly, pathQualified bool) (result, string) {
	what := "member"
	if methodOnly {
		what = "method"
	}
	if q == "" {
		for _, r := range ix.types[typ] {
			if ix.hasMember(r, m, methodOnly, 0) {
				return found, ""
			}
		}
		return missing, fmt.Sprintf("no type %s has a %s %s", typ, what, m)
	}
	dirs := ix.packagesNamed(q)
	if len(dirs) == 0 {
		if pathQualified || ix.external[q] {
			return ignored, ""
		}
		return missing, fmt.Sprintf("no package named %s", q)
	}
	hasType := false
	for _, d := range dirs {
		if ix.pkgs[d].types[typ] == nil {
			continue
		}
		hasType = true
		if ix.hasMember(typeRef{d, typ}, m, methodOnly, 0) {
			return found, ""
		}
	}
	if !hasType {
		return missing, fmt.Sprintf("no type %s in %s", typ, strings.Join(dirs, " or "))
	}
	return missing, fmt.Sprintf("type %s has no %s %s", typ, what, m)
}

func isExported(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// problems checks every code span of md and returns the missing ones, and
// how many spans were checked.
func (ix *index) problems(md string) (problems []string, checked int) {
	for _, s := range codeSpans(md) {
		r, why := ix.check(s.text)
		switch r {
		case found:
			checked++
		case missing:
			checked++
			problems = append(problems, fmt.Sprintf("line %d: `%s`: %s", s.line, s.text, why))
		}
	}
	return problems, checked
}

// ---- the package table

// importProblems checks the table whose header has "may import": for each
// row, the packages of its first column may import, inside the module,
// only the packages of its third column.
func (ix *index) importProblems(md string) (problems []string, rows int) {
	inTable := false
	for i, line := range strings.Split(md, "\n") {
		trim := strings.TrimSpace(line)
		if !strings.HasPrefix(trim, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(trim, "|"), "|")
		if !inTable {
			inTable = len(cells) >= 3 && strings.Contains(strings.ToLower(cells[2]), "may import")
			continue
		}
		if len(cells) < 3 || strings.Trim(cells[0], " -:") == "" {
			continue // the separator row
		}
		rows++
		var pkgs, allowed []string
		for _, s := range codeSpans(cells[0]) {
			pkgs = append(pkgs, ix.expand(s.text)...)
		}
		for _, s := range codeSpans(cells[2]) {
			allowed = append(allowed, s.text)
		}
		stdOnly := strings.Contains(cells[2], "standard library only")
		if len(pkgs) == 0 {
			problems = append(problems, fmt.Sprintf("line %d: the row names no package of the repository", i+1))
		}
		for _, dir := range pkgs {
			for _, imp := range slices.Sorted(maps.Keys(ix.pkgs[dir].imports)) {
				if d, ok := strings.CutPrefix(imp, ix.module+"/"); ok {
					if !allows(allowed, d) {
						problems = append(problems, fmt.Sprintf("line %d: %s imports %s, which its row does not allow", i+1, dir, d))
					}
				} else if stdOnly && strings.Contains(strings.Split(imp, "/")[0], ".") {
					problems = append(problems, fmt.Sprintf("line %d: %s imports %s, but its row says standard library only", i+1, dir, imp))
				}
			}
		}
	}
	return problems, rows
}

// expand turns a table entry (a directory, or dir/... for a tree) into
// package directories.
func (ix *index) expand(s string) []string {
	if tree, ok := strings.CutSuffix(s, "/..."); ok {
		var out []string
		for dir := range ix.pkgs {
			if dir == tree || strings.HasPrefix(dir, tree+"/") {
				out = append(out, dir)
			}
		}
		sort.Strings(out)
		return out
	}
	if ix.pkgs[s] != nil {
		return []string{s}
	}
	return nil
}

func allows(allowed []string, dir string) bool {
	for _, a := range allowed {
		if tree, ok := strings.CutSuffix(a, "/..."); ok {
			if dir == tree || strings.HasPrefix(dir, tree+"/") {
				return true
			}
		} else if a == dir {
			return true
		}
	}
	return false
}

// ---- tests

func readMap(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(mapFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestArchitectureNamesExist fails when a path or Go name the map writes
// as code no longer exists.
func TestArchitectureNamesExist(t *testing.T) {
	ix := repoIndex(t)
	md := readMap(t)
	if !strings.Contains(md, "Keep this file true as code moves") {
		t.Error("architecture.md lost its note on keeping it true")
	}
	problems, checked := ix.problems(md)
	for _, p := range problems {
		t.Errorf("%s: %s", mapFile, p)
	}
	// A map whose references all stopped being recognised would pass
	// vacuously.
	if checked < 150 {
		t.Errorf("only %d references checked in %s; the conventions above no longer match the document", checked, mapFile)
	}
	t.Logf("%d references checked in %s (%d Go files indexed)", checked, mapFile, ix.loaded)
}

// TestArchitectureImports fails when a package imports a package of the
// module that its row in the map does not allow, or a domain package
// imports anything outside the standard library.
func TestArchitectureImports(t *testing.T) {
	ix := repoIndex(t)
	problems, rows := ix.importProblems(readMap(t))
	for _, p := range problems {
		t.Errorf("%s: %s", mapFile, p)
	}
	if rows < 10 {
		t.Errorf("found %d rows in the package table of %s; want the table with a \"may import\" column", rows, mapFile)
	}
}

// TestCheckerReportsMadeUpNames keeps the checker honest: made-up names
// and paths are reported, real ones are not, other spans are left alone.
func TestCheckerReportsMadeUpNames(t *testing.T) {
	ix := repoIndex(t)
	for _, s := range []string{
		"store.Writer.Fly",           // no such method
		"(*store.Writer).Nope",       // no such method
		"(*store.Writer).db",         // a field, not a method
		"points.NoSuchThing",         // no such declaration
		"points.Nothing.Apply",       // no such type
		"stroe.Writer",               // no such package
		"uow.nothing",                // a real type without that member
		"Writer.submitLater",         // unqualified, no such member
		"gateway/nowhere/x.go",       // no such file
		"gateway/store/nowhere.go",   // no such file in a real directory
		"cmd/lianmeng.noSuchHelper",  // path-qualified, no such name
		"sdk/evidence.NotInTheSDK",   // path-qualified, no such name
		"evidence.Log.NoSuchMethod",  // through an alias, no such method
		"points.Merchant.NoSuchRate", // through embedding, no such field
	} {
		if r, _ := ix.check(s); r != missing {
			t.Errorf("made-up `%s` was not reported missing", s)
		}
	}
	for _, s := range []string{
		"store.Writer.Submit",
		"(*store.Writer).Submit",
		"store.Writer.Submit()",
		"points.Service.Earnings",    // a field
		"points.Tx.Post",             // an interface method
		"points.Merchant.RateBP",     // promoted from the embedded Earning
		"evidence.Log.Append",        // through an alias to sdk/evidence
		"uow.prefetch",               // unqualified Type.method
		"cmd/lianmeng.ruleEvaluator", // path-qualified
		"lianmeng.ruleEvaluator.EvaluateEarning",
		"ledger.Reserve",
		"gateway/store/writer.go",
		"gateway/store",
		"sdk/...",
	} {
		if r, why := ix.check(s); r != found {
			t.Errorf("real `%s` was not found: %s", s, why)
		}
	}
	for _, s := range []string{"merchant:{m}:budget", "go.mod", "writer.go", "Idempotency-Key", "lianmeng verify",
		"PRAGMA synchronous=FULL", "/v1/merchant/earn", "e.g.", "fdatasync(2)", "foo.bar",
		"context.WithTimeout", "fiber.Ctx.Send"} {
		if r, why := ix.check(s); r != ignored {
			t.Errorf("`%s` should not be checked as a reference (%s)", s, why)
		}
	}
	doc := "see `store.Writer.Fly` and `gateway/store`\n```\n`points.NotChecked`\n```\n`ledger.Transaction.Validate`\n"
	problems, checked := ix.problems(doc)
	if checked != 3 || len(problems) != 1 || !strings.HasPrefix(problems[0], "line 1: `store.Writer.Fly`") {
		t.Errorf("problems(doc) = %q, %d checked; want only line 1's made-up name, 3 checked (fenced blocks skipped)", problems, checked)
	}
	table := "| package | what it is | may import |\n|---|---|---|\n" +
		"| `gateway/points` | the domain | standard library only |\n" +
		"| `gateway/store` | SQL | `gateway/ledger`, `gateway/points` |\n"
	problems, rows := ix.importProblems(table)
	if rows != 2 || len(problems) < 2 {
		t.Errorf("importProblems(table) = %q over %d rows; want points→ledger and the store's other imports reported", problems, rows)
	}
	for _, want := range []string{"gateway/points imports gateway/ledger", "gateway/store imports gateway/evidence"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("importProblems(table) = %q; want a problem %q", problems, want)
		}
	}
}
