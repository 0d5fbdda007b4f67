package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker/cli/templates"
)

// psHeaders are the column headers `ps --format 'table …'` prints for
// each field, as Docker Compose's container formatter names them.
var psHeaders = map[string]string{
	"Command": "COMMAND", "CreatedAt": "CREATED AT", "ExitCode": "EXIT CODE", "Health": "HEALTH",
	"ID": "CONTAINER ID", "Image": "IMAGE", "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES",
	"Mounts": "MOUNTS", "Name": "NAME", "Names": "NAMES", "Networks": "NETWORKS", "Ports": "PORTS",
	"Project": "PROJECT", "Publishers": "PUBLISHERS", "RunningFor": "CREATED", "Service": "SERVICE",
	"Size": "SIZE", "State": "STATE", "Status": "STATUS",
}

// lsHeaders are `ls --format 'table …'`'s headers.
var lsHeaders = map[string]string{"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"}

// isTemplate says whether a --format value is a Go template (or "table
// TEMPLATE") rather than one of the named formats.
func isTemplate(format string) bool {
	return strings.Contains(format, "{{")
}

// writeTemplate prints rows with a Go template as the docker CLI's
// --format does: `\t` and `\n` in the format are a tab and a newline;
// "table TEMPLATE" first prints a header row (the template run on the
// headers) and aligns the columns; a plain TEMPLATE prints one line per
// row. Docker's template functions (json, join, lower, upper, pad,
// truncate…) are there. A template that does not parse, or names a field
// the rows do not have, is an error.
func writeTemplate(w io.Writer, format string, headers map[string]string, rows []any) error {
	table := strings.HasPrefix(format, "table")
	if table {
		format = strings.TrimPrefix(format, "table")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(format, " "))
	tmpl, err := templates.Parse(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		if err := tmpl.Option("missingkey=zero").Execute(out, headers); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(out)
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, r); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
