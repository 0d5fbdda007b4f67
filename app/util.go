package app

import (
	"os"

	"github.com/mattn/go-shellwords"
)

func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }

func shellSplit(s string) ([]string, error) { return shellwords.Parse(s) }
