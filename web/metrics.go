package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "kagi_http_request_duration_seconds",
	Help:    "Time to answer an HTTP request, by route pattern and status code.",
	Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
}, []string{"pattern", "code"})

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Measured serves mux and records every request's duration under the pattern the mux matched
// (never the raw path, which may hold anything a client sends), for GET /metrics. A request no
// route serves is answered in kagi's form (serveUnmatched), not net/http's English text.
func Measured(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			serveUnmatched(rec, r, mux)
			pattern = "unmatched"
		} else {
			mux.ServeHTTP(rec, r)
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		requestDuration.WithLabelValues(pattern, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}
