package topic

import "testing"

var sink bool

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Match("tenants/+/devices/+/telemetry/#", "tenants/t1/devices/d42/telemetry/temp")
	}
}

func BenchmarkCovers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = Covers("tenants/t1/#", "tenants/t1/devices/+/telemetry")
	}
}

func BenchmarkValidateFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = ValidateFilter("tenants/t1/devices/+/telemetry/#") == nil
	}
}

func BenchmarkValidateName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink = ValidateName("tenants/t1/devices/d42/telemetry/temp") == nil
	}
}

func BenchmarkACL(b *testing.B) {
	all, _ := NewACL([]string{"#"})
	narrow, _ := NewACL([]string{
		"tenants/t1/commands/#",
		"tenants/t1/config/+",
		"tenants/t1/devices/+/telemetry/#",
	})
	b.Run("AllowsTopic/Hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = all.AllowsTopic("tenants/t1/devices/d42/telemetry/temp")
		}
	})
	b.Run("AllowsFilter/Hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = all.AllowsFilter("tenants/t1/devices/+/telemetry/#")
		}
	})
	b.Run("AllowsTopic/Three", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = narrow.AllowsTopic("tenants/t1/devices/d42/telemetry/temp")
		}
	})
	b.Run("AllowsFilter/Three", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = narrow.AllowsFilter("$share/g/tenants/t1/devices/+/telemetry/temp")
		}
	})
}
