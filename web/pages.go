package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"kagi"
)

// Assets are the scripts and styles of a package's pages, read once at start from an embedded
// folder and served under a prefix with their content's hash in the URL, so a page always loads
// the files it was rendered with and browsers may cache them for good. The pages' CSP allows
// scripts and styles from the origin only, never inline: these are how they get theirs.
type Assets struct {
	prefix string
	files  map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	version     string
}

var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// LoadAssets reads every file below dir of fsys, to be served under prefix ("/static/"). A
// file of a kind it cannot serve is an error: a start with it would serve it wrong.
func LoadAssets(fsys fs.FS, dir, prefix string) (*Assets, error) {
	a := &Assets{prefix: prefix, files: map[string]asset{}}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := assetTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("web: static file %s has no known content type", p)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a.files[strings.TrimPrefix(p, dir+"/")] = asset{body: body, contentType: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	return a, err
}

// URL names a file with its content's hash, for a page's <script> or <link>.
func (a *Assets) URL(name string) (string, error) {
	f, ok := a.files[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return a.prefix + name + "?v=" + f.version, nil
}

// Serve answers a request for the file named by the path value "file". A request naming the
// current version may be cached for a year; any other is revalidated by its ETag.
func (a *Assets) Serve(w http.ResponseWriter, r *http.Request) error {
	f, ok := a.files[r.PathValue("file")]
	if !ok {
		return kagi.Errorf(kagi.NotFound, "not_found", msgNotFound)
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.version+`"`)
	if r.URL.Query().Get("v") == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	return nil
}

// Page renders the template's "layout" with data as a page that is never cached (it shows a
// session's state), whole or not at all: a template that fails leaves the response unwritten,
// for the caller's error to become a clean 500.
func Page(w http.ResponseWriter, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, err := buf.WriteTo(w)
	return err
}
