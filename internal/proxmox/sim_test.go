package proxmox_test

import (
	"testing"

	"templated/internal/proxmox/proxmoxtest"
)

func TestConformanceHTTP(t *testing.T) {
	proxmoxtest.Run(t, func(t *testing.T) proxmoxtest.Harness {
		return proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	})
}

func TestConformanceHTTPS(t *testing.T) {
	proxmoxtest.Run(t, func(t *testing.T) proxmoxtest.Harness {
		return proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{TLS: true})
	})
}
