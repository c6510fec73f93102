package state

import (
	"slices"
	"time"
)

// The shape of desired/templates.yaml. These tables drive the parser's
// unknown-key, required-key and type checks, and a test walks them against
// desired/templates.schema.json so the two cannot drift apart.

// Value types, named as JSON Schema names them.
const (
	typeString     = "string"
	typeInteger    = "integer"
	typeObject     = "object"
	typeArray      = "array"
	typeBoolOrText = "boolean|string"
)

// fieldSpec is one key a mapping may hold.
type fieldSpec struct {
	Key      string
	Type     string
	Required bool
	Enum     []string // allowed values, if restricted
}

// FormatVersion is the only value of the file's version key this parser reads.
const FormatVersion = 1

// imageFormats are the disk formats a cloud image may have; the first is
// the default.
var imageFormats = []string{"qcow2", "raw", "vmdk"}

// Build modes.
const (
	BuildISO   = "iso"
	BuildClone = "clone"
)

var (
	rootFields = []fieldSpec{
		{Key: "version", Type: typeInteger, Required: true, Enum: []string{"1"}},
		{Key: "defaults", Type: typeObject},
		{Key: "vmids", Type: typeObject, Required: true},
		{Key: "images", Type: typeArray},
		{Key: "templates", Type: typeArray, Required: true},
		{Key: "notifications", Type: typeObject},
	}
	// rangeFields are the cluster-wide ranges of vmids, in the order
	// ranges.r holds them.
	rangeFields = []fieldSpec{
		{Key: "templates", Type: typeString, Required: true},
		{Key: "staging", Type: typeString, Required: true},
		{Key: "previous", Type: typeString, Required: true},
		{Key: "bases", Type: typeString},
	}
	// vmidFields are the keys of vmids: the ranges, and replicas, a
	// mapping of node names to the range of that node's replicas.
	vmidFields = slices.Concat(rangeFields, []fieldSpec{
		{Key: "replicas", Type: typeObject},
	})
	// imageFields are the keys of one entry of images.
	imageFields = []fieldSpec{
		{Key: "name", Type: typeString, Required: true},
		{Key: "kind", Type: typeString, Required: true, Enum: []string{ImageISO, ImageCloud}},
		{Key: "url", Type: typeString, Required: true},
		{Key: "checksum", Type: typeString},
		{Key: "checksum_url", Type: typeString},
		{Key: "file", Type: typeString},
		{Key: "format", Type: typeString, Enum: imageFormats},
		{Key: "storage", Type: typeString},
		{Key: "nodes", Type: typeArray},
	}
	// settingFields may appear in defaults and in each template.
	settingFields = []fieldSpec{
		{Key: "node", Type: typeString},
		{Key: "storage", Type: typeString},
		{Key: "iso_storage", Type: typeString},
		{Key: "cores", Type: typeInteger},
		{Key: "memory", Type: typeInteger},
		{Key: "disk", Type: typeString},
		{Key: "build", Type: typeString, Enum: []string{BuildISO, BuildClone}},
		{Key: "max_age", Type: typeString},
		{Key: "patch_schedule", Type: typeString},
		{Key: "timezone", Type: typeString},
		{Key: "keep_previous", Type: typeInteger},
		{Key: "build_timeout", Type: typeString},
		{Key: "replicas", Type: typeArray},
	}
	templateFields = append([]fieldSpec{
		{Key: "name", Type: typeString, Required: true},
		{Key: "vmid", Type: typeInteger, Required: true},
		{Key: "os", Type: typeString, Required: true},
		{Key: "os_version", Type: typeString, Required: true},
		{Key: "release", Type: typeString, Required: true},
		{Key: "packer", Type: typeString, Required: true},
		{Key: "var_file", Type: typeString, Required: true},
		{Key: "suspend", Type: typeBoolOrText},
		{Key: "image", Type: typeString},
		{Key: "extra_images", Type: typeArray},
	}, settingFields...)
)

// builtinDefaults are what a file's defaults start from.
func builtinDefaults() Defaults {
	return Defaults{
		Storage:      "local-lvm",
		ISOStorage:   "local",
		Cores:        2,
		MemoryMiB:    2048,
		DiskGB:       20,
		Timezone:     "UTC",
		KeepPrevious: 1,
		BuildTimeout: 2 * time.Hour,
		Build:        BuildClone,
	}
}
