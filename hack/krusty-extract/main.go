// Command krusty-extract turns kustomize's krusty tests (api/krusty/*_test.go in
// kubernetes-sigs/kustomize) into case directories for Ferry's kustomize differential test.
//
// Each test function is read with go/ast, never run: the files it writes through the test
// harness (th.WriteK, th.WriteC, th.WriteF, th.MkDir) are replayed into a directory, and each
// th.Run or th.RunWithErr becomes one case that builds the directory it names. Only what can be
// read statically becomes a case: string literals, their concatenations, package constants and
// local variables bound once to such strings. Table-driven tests and tests that change build
// options other than the load restrictor are reported as skipped, with the reason.
//
// The expected output is not taken from the test: the differential test runs the real
// kustomize on each case. So a case stands for the input of a kustomize test, nothing more.
//
// Usage: go run . -src <kustomize checkout>/api/krusty -out <dir>
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	src := flag.String("src", "", "the api/krusty directory of a kustomize checkout")
	out := flag.String("out", "", "where to write the case directories (created)")
	flag.Parse()
	if *src == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: krusty-extract -src <kustomize>/api/krusty -out <dir>")
		os.Exit(2)
	}
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "krusty-extract:", err)
		os.Exit(1)
	}
}

// A case: the files of the in-memory file system at the time of a Run, and what it builds.
type kase struct {
	name     string
	files    map[string]string
	buildDir string
	noRoot   bool // the test asked for LoadRestrictionsNone
}

func run(src, out string) error {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(src, "*_test.go"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	var files []*ast.File
	for _, n := range names {
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	consts := packageStrings(files)
	helpers := map[string]*ast.FuncDecl{}
	for _, f := range files {
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && !strings.HasPrefix(fn.Name.Name, "Test") && fn.Body != nil {
				helpers[fn.Name.Name] = fn
			}
		}
	}
	var cases []kase
	var skipped []string
	functions := 0
	for i, f := range files {
		stem := strings.TrimSuffix(filepath.Base(names[i]), "_test.go")
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Body == nil {
				continue
			}
			functions++
			got, why := extract(fn, consts, helpers)
			if why != "" {
				skipped = append(skipped, fmt.Sprintf("%s %s: %s", stem, fn.Name.Name, why))
				continue
			}
			base := caseName(stem, fn.Name.Name)
			for j := range got {
				got[j].name = base
				if len(got) > 1 {
					got[j].name = fmt.Sprintf("%s-%d", base, j+1)
				}
				cases = append(cases, got[j])
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, c := range cases {
		if err := write(out, c); err != nil {
			return err
		}
	}
	report := fmt.Sprintf("%d test functions, %d cases written, %d functions skipped\n", functions, len(cases), len(skipped))
	if err := os.WriteFile(filepath.Join(out, "SKIPPED.txt"), []byte(report+strings.Join(skipped, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Print(report)
	return nil
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// krusty-<file>-<test>, lower case, so the cases sort by file like the tests.
func caseName(stem, test string) string {
	t := strings.TrimPrefix(test, "Test")
	var b strings.Builder
	for i, r := range t {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	n := "krusty-" + strings.ReplaceAll(stem, "_", "") + "-" + strings.ToLower(b.String())
	return strings.Trim(nonName.ReplaceAllString(n, "-"), "-")
}

// packageStrings: the package-level constants and variables bound to a static string.
func packageStrings(files []*ast.File) map[string]string {
	out := map[string]string{}
	// Twice, so constants defined from other constants resolve whatever their order.
	for pass := 0; pass < 2; pass++ {
		for _, f := range files {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
					continue
				}
				for _, s := range g.Specs {
					v, ok := s.(*ast.ValueSpec)
					if !ok || len(v.Names) != len(v.Values) {
						continue
					}
					for i, n := range v.Names {
						if s, ok := str(v.Values[i], out, nil); ok {
							out[n.Name] = s
						}
					}
				}
			}
		}
	}
	return out
}

// str evaluates a static string expression.
func str(e ast.Expr, consts, locals map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.ParenExpr:
		return str(e.X, consts, locals)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := str(e.X, consts, locals)
		b, ok2 := str(e.Y, consts, locals)
		return a + b, ok1 && ok2
	case *ast.Ident:
		if s, ok := locals[e.Name]; ok {
			return s, true
		}
		s, ok := consts[e.Name]
		return s, ok
	case *ast.CallExpr:
		sel, ok := e.Fun.(*ast.SelectorExpr)
		if !ok {
			return "", false
		}
		switch sel.Sel.Name {
		case "GetRoot":
			return "/", true
		case "Join":
			var parts []string
			for _, a := range e.Args {
				s, ok := str(a, consts, locals)
				if !ok {
					return "", false
				}
				parts = append(parts, s)
			}
			return path.Join(parts...), true
		}
	}
	return "", false
}

// extract replays one test function. A non-empty reason means it was skipped.
func extract(fn *ast.FuncDecl, consts map[string]string, helpers map[string]*ast.FuncDecl) ([]kase, string) {
	locals := staticLocals(fn.Body, consts, nil)
	// Option variables and whether they ask for LoadRestrictionsNone; any other change to the
	// options is outside what a case directory can say.
	noRoot := map[string]bool{}
	why := ""
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		a, ok := n.(*ast.AssignStmt)
		if !ok || len(a.Lhs) != 1 {
			return true
		}
		sel, ok := a.Lhs[0].(*ast.SelectorExpr)
		if !ok {
			return true
		}
		root := sel.X
		for {
			if s, ok := root.(*ast.SelectorExpr); ok {
				root = s.X
				continue
			}
			break
		}
		id, ok := root.(*ast.Ident)
		if !ok {
			return true
		}
		field := sel.Sel.Name
		if field == "LoadRestrictions" {
			if v, ok := a.Rhs[0].(*ast.SelectorExpr); ok && v.Sel.Name == "LoadRestrictionsNone" {
				noRoot[id.Name] = true
			}
			return true
		}
		if field == "Reorder" {
			if v, ok := a.Rhs[0].(*ast.SelectorExpr); ok && v.Sel.Name == "ReorderOptionLegacy" {
				return true // the kustomize CLI's own default
			}
		}
		if why == "" {
			why = "sets build option " + field
		}
		return true
	})
	if why != "" {
		return nil, why
	}
	w := &walker{consts: consts, helpers: helpers, noRoot: noRoot, files: map[string]string{}}
	w.walk(fn.Body, locals, 0)
	if w.why != "" {
		return nil, w.why
	}
	if len(w.cases) == 0 {
		return nil, "runs no build"
	}
	return w.cases, ""
}

// staticLocals: the local variables of a body bound exactly once to a static string, on top
// of the given bindings (a helper's parameters).
func staticLocals(body ast.Node, consts, params map[string]string) map[string]string {
	locals := map[string]string{}
	for k, v := range params {
		locals[k] = v
	}
	assigned := map[string]int{}
	ast.Inspect(body, func(n ast.Node) bool {
		if a, ok := n.(*ast.AssignStmt); ok {
			for i, l := range a.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					assigned[id.Name]++
					if len(a.Rhs) == len(a.Lhs) {
						if s, ok := str(a.Rhs[i], consts, locals); ok {
							locals[id.Name] = s
						}
					}
				}
			}
		}
		return true
	})
	for k := range locals {
		if assigned[k] != 1 {
			delete(locals, k)
		}
	}
	return locals
}

// walker replays harness calls in source order, following the package's helper functions.
type walker struct {
	consts  map[string]string
	helpers map[string]*ast.FuncDecl
	noRoot  map[string]bool
	files   map[string]string
	cases   []kase
	why     string
}

func (w *walker) walk(body ast.Node, locals map[string]string, depth int) {
	ast.Inspect(body, func(n ast.Node) bool {
		if w.why != "" {
			return false
		}
		if _, ok := n.(*ast.FuncLit); ok {
			w.why = "defines a function literal"
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if id, ok := call.Fun.(*ast.Ident); ok {
			// A helper of the test package that writes files for several tests: follow it,
			// with its string parameters bound to the static arguments.
			if h, ok := w.helpers[id.Name]; ok {
				if depth > 4 {
					w.why = "helpers nest too deep"
					return false
				}
				params := map[string]string{}
				i := 0
				for _, field := range h.Type.Params.List {
					for _, name := range field.Names {
						if i < len(call.Args) {
							if v, ok := str(call.Args[i], w.consts, locals); ok {
								params[name.Name] = v
							}
						}
						i++
					}
				}
				w.walk(h.Body, staticLocals(h.Body, w.consts, params), depth+1)
				return w.why == ""
			}
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		arg := func(i int) (string, bool) {
			if i >= len(call.Args) {
				return "", false
			}
			return str(call.Args[i], w.consts, locals)
		}
		switch sel.Sel.Name {
		case "MakeHarness", "MakeHarnessWithFs", "MakeEnhancedHarness", "MakeEnhancedHarnessWithTmpRoot", "Reset":
			w.files = map[string]string{}
		case "WriteK", "WriteC", "WriteF":
			p, ok1 := arg(0)
			body, ok2 := arg(1)
			if !ok1 || !ok2 {
				w.why = sel.Sel.Name + " with a value that is not a static string"
				return false
			}
			switch sel.Sel.Name {
			case "WriteK":
				p = path.Join(p, "kustomization.yaml")
				body = "\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body
			case "WriteC":
				p = path.Join(p, "kustomization.yaml")
				body = "\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + body
			}
			w.files[clean(p)] = body
		case "MkDir":
			p, ok := arg(0)
			if !ok {
				w.why = "MkDir with a value that is not a static string"
				return false
			}
			w.files[clean(p)+"/"] = ""
		case "Run", "RunWithErr":
			if len(call.Args) != 2 {
				return true // not the harness's Run
			}
			dir, ok := arg(0)
			if !ok {
				w.why = "Run with a directory that is not a static string"
				return false
			}
			c := kase{files: map[string]string{}, buildDir: clean(dir)}
			for k, v := range w.files {
				c.files[k] = v
			}
			switch o := call.Args[1].(type) {
			case *ast.Ident:
				c.noRoot = w.noRoot[o.Name]
			case *ast.CallExpr:
			default:
				w.why = "Run with options that are not a variable or a call"
				return false
			}
			w.cases = append(w.cases, c)
		case "WriteLegacyConfigs", "GetFSys", "EvalSymlinks", "ErrIfNoHelm", "GetPluginConfig":
			w.why = "uses th." + sel.Sel.Name
			return false
		}
		return true
	})
}

// clean makes a harness path relative to the in-memory file system's root.
func clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

func write(out string, c kase) error {
	dir := filepath.Join(out, c.name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for p, body := range c.files {
		if p == "" || p == "." {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, []byte(body), 0o644); err != nil {
			return err
		}
	}
	// build-dir names the directory to build when it is not the case's own, and marks the case
	// directory as a case when the test builds a root without a kustomization (to see the error).
	buildDir := c.buildDir
	if buildDir == "" {
		buildDir = "."
	}
	_, hasRoot := c.files["kustomization.yaml"]
	if buildDir != "." || !hasRoot {
		if err := os.WriteFile(filepath.Join(dir, "build-dir"), []byte(buildDir+"\n"), 0o644); err != nil {
			return err
		}
	}
	if c.noRoot {
		if err := os.WriteFile(filepath.Join(dir, "load-restrictor-none"), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}
