package proxy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
)

func svc(targets ...domain.Target) domain.Service {
	return domain.Service{ID: "s1", Name: "orders", Targets: targets}
}

func tgt(url string, w int) domain.Target { return domain.Target{URL: url, Weight: w} }

func TestSmoothSequence(t *testing.T) {
	cases := []struct {
		desc    string
		weights []int
		want    string // one cycle, targets as letters
	}{
		{"nginx's example 5,1,1", []int{5, 1, 1}, "aabacaa"},
		{"equal weights", []int{1, 1, 1}, "abc"},
		{"weights reduced by their gcd", []int{4, 2}, "aba"},
		{"3:1", []int{3, 1}, "aaba"},
		{"single target", []int{7}, "a"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var ts []*Target
			for _, w := range tc.weights {
				ts = append(ts, &Target{Weight: w})
			}
			var b strings.Builder
			for _, i := range smoothSequence(ts) {
				b.WriteByte(byte('a' + i))
			}
			if b.String() != tc.want {
				t.Errorf("cycle = %q, want %q", b.String(), tc.want)
			}
		})
	}
	t.Run("huge weights are scaled, proportions kept", func(t *testing.T) {
		ts := []*Target{{Weight: 100000}, {Weight: 50000}, {Weight: 1}}
		seq := smoothSequence(ts)
		if len(seq) > 4096+3 {
			t.Fatalf("cycle of %d slots", len(seq))
		}
		var n [3]int
		for _, i := range seq {
			n[i]++
		}
		if n[2] < 1 || n[0] < 2*n[1]-2 || n[0] > 2*n[1]+2 {
			t.Errorf("counts %v", n)
		}
	})
}

func TestUpstreamsReuse(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := NewUpstreams(UpstreamOptions{Clock: fake})
	s := svc(tgt("http://a:80", 1), tgt("http://b:80", 1))
	first := u.For(s)
	if u.For(s) != first {
		t.Fatal("an unchanged service did not get its upstream back")
	}
	// Cosmetic changes do not matter either.
	s2 := s
	s2.Version, s2.Visibility, s2.UpdatedAt = "v2", domain.VisibilityPublished, fake.Now()
	if u.For(s2) != first {
		t.Fatal("a change irrelevant to forwarding rebuilt the upstream")
	}
	// Fail target b into ejection, then change the timeouts: a new upstream
	// that remembers b's health; a new target starts healthy; a dropped one
	// is forgotten.
	b := first.targets[1]
	for range DefaultEjectAfter {
		first.failure(b, errors.New("refused"))
	}
	if !first.Status()[1].Ejected {
		t.Fatal("b not ejected")
	}
	s3 := svc(tgt("http://b:80", 1), tgt("http://c:80", 1))
	s3.Timeouts.Response = domain.Duration(time.Second)
	second := u.For(s3)
	if second == first {
		t.Fatal("changed timeouts kept the old upstream")
	}
	st := second.Status()
	if !st[0].Ejected || st[0].URL != "http://b:80" || st[1].Ejected || st[1].Failures != 0 {
		t.Fatalf("health after rebuild = %+v", st)
	}
	if second.response != time.Second || second.connect != DefaultConnectTimeout {
		t.Errorf("timeouts %v %v", second.response, second.connect)
	}
	u.Retain("other")
	if u.For(s3) == second {
		t.Error("Retain kept a service it was not given")
	}
}

func TestUpstreamTargets(t *testing.T) {
	u := NewUpstreams(UpstreamOptions{})
	cases := []struct {
		desc    string
		targets []domain.Target
		usable  int
		wantErr string
	}{
		{"http with base path", []domain.Target{tgt("http://a:8080/base/", 1)}, 1, ""},
		{"https default port", []domain.Target{tgt("https://a", 1)}, 1, ""},
		{"h2c", []domain.Target{tgt("h2c://a:81", 1)}, 1, ""},
		{"unknown scheme", []domain.Target{tgt("ftp://a", 1), tgt("http://b", 1)}, 1, "scheme"},
		{"no host", []domain.Target{tgt("http:///x", 1)}, 0, "no host"},
		{"query in target", []domain.Target{tgt("http://a/?x=1", 1)}, 0, "no query"},
		{"no targets", nil, 0, "no targets"},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s := svc(tc.targets...)
			s.ID = "s" + string(rune('a'+i))
			up := u.For(s)
			if len(up.targets) != tc.usable {
				t.Errorf("%d usable targets, want %d", len(up.targets), tc.usable)
			}
			if tc.wantErr == "" && up.Err() != nil || tc.wantErr != "" && (up.Err() == nil || !strings.Contains(up.Err().Error(), tc.wantErr)) {
				t.Errorf("Err() = %v, want %q", up.Err(), tc.wantErr)
			}
		})
	}
	up := u.For(domain.Service{ID: "p", Targets: []domain.Target{tgt("http://user:pw@a:8080/base/", 1)}})
	tg := up.targets[0]
	if tg.addr != "a:8080" || tg.hostHeader != "a:8080" || tg.basePath != "/base" || strings.Contains(tg.String(), "pw") {
		t.Errorf("parsed %+v", tg)
	}
}

func TestPickAndHealth(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	u := NewUpstreams(UpstreamOptions{Clock: fake})
	s := svc(tgt("http://a", 1), tgt("http://b", 1), tgt("http://c", 1))
	s.EjectAfter, s.EjectFor = 2, domain.Duration(5*time.Second)
	up := u.For(s)
	a, b, c := up.targets[0], up.targets[1], up.targets[2]
	order := func(n int) string {
		var sb strings.Builder
		for range n {
			sb.WriteString(strings.TrimPrefix(up.pick(nil).URL, "http://"))
		}
		return sb.String()
	}
	count := func(n int) map[string]int {
		m := map[string]int{}
		for range n {
			m[strings.TrimPrefix(up.pick(nil).URL, "http://")]++
		}
		return m
	}
	if got := order(6); got != "abcabc" {
		t.Fatalf("round-robin %q", got)
	}
	up.failure(b, errors.New("x"))
	if got := order(3); got != "abc" {
		t.Fatalf("one failure below the threshold ejected: %q", got)
	}
	up.success(b)
	up.failure(b, errors.New("x"))
	if got := order(3); got != "abc" {
		t.Fatalf("a success did not reset the streak: %q", got)
	}
	up.failure(b, errors.New("x"))
	// b's share spreads evenly over a and c.
	if got := count(60); got["b"] != 0 || got["a"] != 30 || got["c"] != 30 {
		t.Fatalf("with b ejected: %v", got)
	}
	for range 3 {
		if p := up.pick(a); p != c {
			t.Fatalf("retry skipping a (b ejected) picked %s", p.URL)
		}
	}
	fake.Advance(5 * time.Second)
	if got := order(3); !strings.Contains(got, "b") {
		t.Fatalf("target not back after EjectFor: %q", got)
	}
	// All ejected: the least recently ejected is tried.
	for _, tg := range []*Target{c, a} {
		fake.Advance(time.Second)
		up.failure(tg, errors.New("x"))
		up.failure(tg, errors.New("x"))
	}
	up.failure(b, errors.New("x")) // on probation: ejected again at once
	if st := up.Status(); !st[0].Ejected || !st[1].Ejected || !st[2].Ejected {
		t.Fatalf("status %+v", st)
	}
	if p := up.pick(nil); p != c {
		t.Errorf("all ejected: picked %s, want c (ejected first)", p.URL)
	}
	if p := up.pick(c); p != a {
		t.Errorf("all ejected, skipping c: picked %s, want a", p.URL)
	}
}

func TestUpstreamPath(t *testing.T) {
	cases := []struct {
		desc, path, prefix string
		strip              bool
		upstream, want     string
	}{
		{"no strip", "/api/x", "/api", false, "", "/api/x"},
		{"strip", "/api/x/y", "/api", true, "", "/x/y"},
		{"strip to root", "/api", "/api", true, "", "/"},
		{"strip with trailing-slash prefix", "/api/x", "/api/", true, "", "/x"},
		{"prefix ends mid-segment: left alone", "/apix", "/api", true, "", "/apix"},
		{"upstream path", "/api/x", "/api", true, "/v2", "/v2/x"},
		{"upstream path with slash", "/api/x", "/api", true, "/v2/", "/v2/x"},
		{"upstream path, stripped to nothing", "/api", "/api", true, "/v2", "/v2"},
		{"escapes kept", "/api/a%2Fb", "/api", true, "", "/a%2Fb"},
		{"encoded separator after the prefix: stripped, kept encoded", "/api%2Fx", "/api", true, "", "/%2Fx"},
		{"encoded separator after the prefix, upstream path: joined by a slash", "/api%2fx", "/api", true, "/v2", "/v2/%2fx"},
		{"prefix ends mid-segment at an escape: left alone", "/api%20x", "/api", true, "", "/api%20x"},
		{"empty", "", "", false, "", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := UpstreamPath(tc.path, tc.prefix, tc.strip, tc.upstream); got != tc.want {
				t.Errorf("UpstreamPath(%q, %q, %v, %q) = %q, want %q", tc.path, tc.prefix, tc.strip, tc.upstream, got, tc.want)
			}
		})
	}
}

func TestRequestURI(t *testing.T) {
	cases := []struct{ base, path, query, want string }{
		{"", "", "", "/"},
		{"", "/x", "", "/x"},
		{"/base", "", "", "/base"},
		{"/base", "/x", "a=1", "/base/x?a=1"},
		{"", "x", "", "/x"},
	}
	for _, tc := range cases {
		tg := &Target{basePath: tc.base}
		if got := string(tg.requestURI(nil, tc.path, tc.query)); got != tc.want {
			t.Errorf("requestURI(%q,%q,%q) = %q, want %q", tc.base, tc.path, tc.query, got, tc.want)
		}
	}
}
