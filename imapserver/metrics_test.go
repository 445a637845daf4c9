package imapserver_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dormouse/dormouse/internal/testserver"
)

func TestMetrics(t *testing.T) {
	srv := testserver.Start(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Metrics.Collectors()...)
	c := srv.Dial(t)
	c.Cmd(`a1 LOGIN alice wrong`)
	c.Cmd(`a2 LOGIN alice alice-secret`)
	c.Cmd(`a3 NOOP`)
	c.Cmd(`a4 FROB`)

	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"dormouse_imap_logins_total,result=failed":                1,
		"dormouse_imap_logins_total,result=ok":                    1,
		"dormouse_imap_commands_total,command=NOOP,result=ok":     1,
		"dormouse_imap_commands_total,command=invalid,result=bad": 1,
		"dormouse_imap_commands_total,command=LOGIN,result=no":    1,
		"dormouse_imap_connections,state=active":                  1,
		"dormouse_imap_connections_accepted_total":                1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	if got["dormouse_imap_read_bytes_total"] == 0 || got["dormouse_imap_written_bytes_total"] == 0 {
		t.Errorf("byte counters: %v", got)
	}
}
