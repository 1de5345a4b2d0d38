package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeService is the part of a docker-compose service the test checks.
type composeService struct {
	Build       any               `yaml:"build"`
	Image       string            `yaml:"image"`
	Restart     string            `yaml:"restart"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// composeVar is compose's ${NAME}, ${NAME:-default} and ${NAME:?error}.
var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}`)

// interpolate replaces compose's variables by their defaults, or by a
// placeholder when they have none.
func interpolate(s string) string {
	return composeVar.ReplaceAllStringFunc(s, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if p[2] == "-" {
			return p[3]
		}
		return "x"
	})
}

// TestComposeFile keeps docker-compose.yml in step with the binary: every
// command and health check of our image parses as the CLI's own (flags
// exist, values in range), every PUBSUB_ variable is one the command
// reads, long-running services restart and have a health check, the
// one-shot ones do not restart and the brokers wait for them to succeed,
// and every named volume and dependency exists.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	oneShot := map[string]bool{"certs": true, "node-token": true}
	for name, svc := range file.Services {
		t.Run(name, func(t *testing.T) {
			if oneShot[name] != (svc.Restart == "no") || (!oneShot[name] && svc.Restart != "unless-stopped") {
				t.Errorf("restart %q", svc.Restart)
			}
			if !oneShot[name] && (svc.Healthcheck == nil || len(svc.Healthcheck.Test) < 2) {
				t.Errorf("no health check")
			}
			for dep, d := range svc.DependsOn {
				if _, ok := file.Services[dep]; !ok {
					t.Errorf("depends on %q, which is not a service", dep)
				}
				if oneShot[dep] && d.Condition != "service_completed_successfully" {
					t.Errorf("depends on one-shot %q with condition %q", dep, d.Condition)
				}
			}
			for _, v := range svc.Volumes {
				if src, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
					if _, ok := file.Volumes[src]; !ok {
						t.Errorf("volume %q is not declared", src)
					}
				}
			}
			if svc.Build == nil {
				return // not our image
			}
			checkComposeCommand(t, svc.Command, svc.Environment)
			if h := svc.Healthcheck; h != nil {
				if h.Test[0] != "CMD" || h.Test[1] != "pubsub" {
					t.Fatalf("health check %q: our image has no shell; use [CMD, pubsub, healthcheck, ...]", h.Test)
				}
				checkComposeCommand(t, h.Test[2:], nil)
			}
		})
	}
	for _, name := range []string{"broker", "broker-2"} {
		for _, dep := range []string{"certs", "node-token", "controlplane", "nats-1", "nats-2", "nats-3"} {
			if _, ok := file.Services[name].DependsOn[dep]; !ok {
				t.Errorf("%s does not wait for %s", name, dep)
			}
		}
	}
}

// checkComposeCommand parses args as our CLI would, with env's PUBSUB_
// variables set (each named in the command's help): an unknown command or flag, or a value the command
// refuses, fails the test.
func checkComposeCommand(t *testing.T, args []string, env map[string]string) {
	t.Helper()
	cleanCLIEnv(t)
	args = slices.Clone(args)
	for i := range args {
		args[i] = interpolate(args[i])
	}
	var b bytes.Buffer
	cmd, rest, err := newRootCmd(&b, &b).Find(args)
	if err != nil || !cmd.Runnable() {
		t.Fatalf("%q: not a command: %v", args, err)
	}
	var help strings.Builder
	_ = run(context.Background(), append(strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "pubsub ")), "-h"), &help, &help)
	for k, v := range env {
		if strings.HasPrefix(k, "PUBSUB_") && !regexp.MustCompile(`\b`+k+`\b`).MatchString(help.String()) {
			t.Errorf("%q: %s is not a variable of %s", args, k, cmd.CommandPath())
		}
		t.Setenv(k, interpolate(v))
	}
	// A fresh tree, so that the variables set above are read.
	cmd, rest, _ = newRootCmd(&b, &b).Find(args)
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%q: %v", args, err)
	}
	if n := cmd.Flags().NArg(); n > 0 && cmd.Args != nil {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}
