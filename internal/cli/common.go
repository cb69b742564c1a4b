package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

// page is one answer of a list call: {"items":[…],"next":"…"}.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// listFlags are the paging flags of every list command.
type listFlags struct {
	after string
	limit int
	all   bool
}

func (l *listFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&l.after, "after", "", "start after this cursor (the 'next' of the previous page)")
	c.Flags().IntVar(&l.limit, "limit", 0, "at most this many items per page (default: the API's, 100)")
	c.Flags().BoolVar(&l.all, "all", false, "follow the cursor and fetch every page")
}

func (l listFlags) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if l.after != "" {
		q.Set("after", l.after)
	}
	if l.limit > 0 {
		q.Set("limit", strconv.Itoa(l.limit))
	}
	return q
}

// maxPages bounds --all, so a server that keeps answering the same cursor
// cannot loop the CLI forever.
const maxPages = 10000

// fetchList GETs one page, or every page with --all. raw is the JSON to print
// for -o json: the API's page verbatim, or with --all the items of every page
// joined into one {"items":[…],"next":""}.
func fetchList[T any](ctx context.Context, c *client, path string, q url.Values, l listFlags) (items []T, raw []byte, next string, err error) {
	q = l.query(q)
	var rawItems []json.RawMessage
	for n := 0; ; n++ {
		var p page[T]
		body, err := c.getJSON(ctx, path, q, &p)
		if err != nil {
			return nil, nil, "", err
		}
		items = append(items, p.Items...)
		if !l.all {
			return items, body, p.Next, nil
		}
		var rp page[json.RawMessage]
		if err := json.Unmarshal(body, &rp); err != nil {
			return nil, nil, "", fmt.Errorf("the admin API's list answer is not {\"items\":[…]}: %w", err)
		}
		rawItems = append(rawItems, rp.Items...)
		if p.Next == "" || p.Next == q.Get("after") || n >= maxPages {
			break
		}
		q.Set("after", p.Next)
	}
	if rawItems == nil {
		rawItems = []json.RawMessage{}
	}
	raw, err = json.Marshal(page[json.RawMessage]{Items: rawItems})
	return items, raw, "", err
}

// listing is how one resource is shown as a table.
type listing[T any] struct {
	path   string
	plural string // "tenants", for "No tenants found."
	header []string
	row    func(v T) []string
}

// list runs a list command: JSON verbatim for -o json, a table otherwise,
// and on stderr how to get the next page.
func list[T any](ctx context.Context, a *app, c *client, ls listing[T], q url.Values, l listFlags) error {
	items, raw, next, err := fetchList[T](ctx, c, ls.path, q, l)
	if err != nil {
		return err
	}
	if a.json() {
		return printJSON(a.io.Out, raw)
	}
	if len(items) == 0 {
		fmt.Fprintf(a.io.Out, "No %s found.\n", ls.plural)
	} else {
		t := newTable(a.io.Out, ls.header...)
		for _, v := range items {
			t.row(ls.row(v)...)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if next != "" {
		fmt.Fprintf(a.io.Err, "More %s: rerun with --after %s (or --all).\n", ls.plural, clean(next))
	}
	return nil
}

// object sends one request answering one object and shows it: JSON
// verbatim for -o json, else through show.
func object[T any](ctx context.Context, a *app, c *client, method, path string, body any, show func(v T) error) error {
	var v T
	raw, err := c.call(ctx, method, path, nil, body, &v)
	if err != nil {
		return err
	}
	if a.json() {
		return printJSON(a.io.Out, raw)
	}
	return show(v)
}

// remove sends a DELETE and says what happened.
func remove(ctx context.Context, a *app, c *client, path, said string) error {
	raw, err := c.call(ctx, http.MethodDelete, path, nil, nil, nil)
	if err != nil {
		return err
	}
	if a.json() {
		return printJSON(a.io.Out, raw)
	}
	_, err = fmt.Fprintln(a.io.Out, said)
	return err
}
