package console

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// auditSelectEvent is the event of an audit line a statement inserts from a SELECT: the fourth
// item, after the time, the account and the actor.
var auditSelectEvent = regexp.MustCompile(`INSERT INTO audit_log \(at, account_id, actor, event, detail\)\s+SELECT [^,]+, [^,]+, [^,]+, '([a-z_]+)'`)

// writtenAuditEvents reads kagi's Go source (tests aside) for the audit events it writes under
// a name given in place: an AuditEvent literal's Event, a variable named event set to a string,
// and the event of an INSERT INTO audit_log … SELECT. An event whose name travels through a
// parameter of another name is not found.
func writtenAuditEvents(t *testing.T, root string) map[string]string {
	t.Helper()
	events := map[string]string{} // event → where
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		add := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					events[s] = fset.Position(lit.Pos()).String()
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if !strings.HasSuffix(typeName(n.Type), "AuditEvent") {
					return true
				}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && typeName(kv.Key) == "Event" {
						add(kv.Value)
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if id, ok := lhs.(*ast.Ident); ok && id.Name == "event" && len(n.Rhs) == len(n.Lhs) {
						add(n.Rhs[i])
					}
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					for _, m := range auditSelectEvent.FindAllStringSubmatch(n.Value, -1) {
						events[m[1]] = fset.Position(n.Pos()).String()
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// typeName is the name an expression ends in: T, pkg.T, a field's key.
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

// Every audit event kagi writes under a name given in place has its words on the operator's
// page (§6: event names in words), so the audit trail never shows an operator a raw name.
func TestEveryAuditEventWrittenHasConsoleWords(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile(filepath.Join("pages", "staff_home.html"))
	if err != nil {
		t.Fatal(err)
	}
	var worded []string
	for _, m := range regexp.MustCompile(`data-msg="event-([a-z_]+)"`).FindAllStringSubmatch(string(page), -1) {
		worded = append(worded, m[1])
	}
	events := writtenAuditEvents(t, "..")
	if len(events) < 30 {
		t.Fatalf("found %d audit events in the source, fewer than the 30 it has: the scan is broken", len(events))
	}
	for event, where := range events {
		if !slices.Contains(worded, event) {
			t.Errorf("%s writes audit event %q, which the console has no words for (data-msg=\"event-%s\")", where, event, event)
		}
	}
	t.Logf("%d audit events written under a name in place, all with words; the page words %d", len(events), len(worded))
}
