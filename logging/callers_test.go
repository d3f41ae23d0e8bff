package logging_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// unguarded are the top-level directories not walked: tools, tests and
// code that is not ours. Every other package is, so a new one is checked
// without anyone remembering to list it.
var unguarded = []string{"bench", "docs", "e2e", "scripts", "third_party"}

// TestRequestPathsLogWithContext: a function that has the request's
// context (a context.Context, an *http.Request or a login.Attempt among its
// parameters) logs with the *Context methods, so its lines carry
// request_id; the handler cannot add what the call did not pass.
// Tests are left out.
func TestRequestPathsLogWithContext(t *testing.T) {
	root := filepath.Join("..")
	var found []string
	walked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
			if rel != "." && slices.Contains(unguarded, top) {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Dir(rel) == "." {
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		walked++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !hasRequestContext(fn.Type) {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !slices.Contains([]string{"Debug", "Info", "Warn", "Error"}, sel.Sel.Name) {
					return true
				}
				if recv := strings.ToLower(exprString(sel.X)); strings.HasSuffix(recv, "log") ||
					strings.HasSuffix(recv, "log()") || strings.HasSuffix(recv, "logger()") || strings.HasSuffix(recv, "logger") {
					found = append(found, filepath.ToSlash(rel)+":"+fn.Name.Name)
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	found = slices.Compact(found)
	if walked == 0 {
		t.Fatal("no file checked: the walk is broken")
	}
	for _, f := range found {
		t.Errorf("%s logs without its request's context: use the *Context method (InfoContext, ErrorContext...)", f)
	}
}

// hasRequestContext tells whether a function's parameters carry a
// request's context.
func hasRequestContext(ft *ast.FuncType) bool {
	for _, p := range ft.Params.List {
		switch exprString(p.Type) {
		case "context.Context", "*http.Request", "login.Attempt", "Attempt":
			return true
		}
	}
	return false
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.CallExpr:
		return exprString(e.Fun) + "()"
	}
	return ""
}
