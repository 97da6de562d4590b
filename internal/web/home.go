package web

import (
	"context"
	"html/template"
	"net/http"
)

// Link is one entry of the home page; without URL, Title is shown as code
// (a URL pattern).
type Link struct {
	Title string
	URL   string
	Note  string
}

// HomeSection is a titled list of links on the home page.
type HomeSection struct {
	Title string
	Links []Link
}

// homePage is Portico's root page until the administration console lands:
// where to go next, instead of a bare 404.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portico</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.1rem;margin-top:1.6rem}li{margin:.3rem 0}.note{color:#555}code{font-size:.9em}</style>
</head><body>
<h1>Portico</h1>
<p>An identity provider that federates and synchronizes Microsoft 365. The administration console is not built yet:
administer Portico with the <code>portico</code> command or the API.</p>
{{range .}}<h2>{{.Title}}</h2><ul>{{range .Links}}
<li>{{if .URL}}<a href="{{.URL}}">{{.Title}}</a>{{else}}<code>{{.Title}}</code>{{end}}{{if .Note}} <span class="note">— {{.Note}}</span>{{end}}</li>{{end}}
</ul>{{end}}
</body></html>
`))

// homeHandler serves the root page; sections are computed per request so
// that applications created since the start are listed.
func homeHandler(sections func(ctx context.Context) []HomeSection) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		homePage.Execute(w, sections(r.Context()))
	}
}
