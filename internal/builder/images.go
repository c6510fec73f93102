package builder

import (
	"encoding/json"
	"fmt"

	"templated/internal/reconcile"
	"templated/internal/state"
)

// imageVars points Packer at the images templated made present for the
// build, in place of what the var file names: the installer ISO
// (iso_filename, iso_checksum, iso_storage), the extra ISOs
// (extra_iso_files) and the base VM (clone_vm). A build without images
// keeps its var file's.
func imageVars(vars map[string]string, req reconcile.BuildRequest) error {
	if req.Base != "" {
		vars["clone_vm"] = req.Base
	}
	var isos []state.ResolvedImage
	for _, r := range req.Images {
		if r.Kind == state.ImageISO {
			isos = append(isos, r)
		}
	}
	if len(isos) == 0 {
		return nil
	}
	storage := isos[0].Storage
	var extra []string
	for i, r := range isos {
		if r.Storage != storage {
			return fmt.Errorf("images %s and %s are on storages %s and %s: the ISOs of one build must share a storage", isos[0].Name, r.Name, storage, r.Storage)
		}
		if i == 0 && req.Template.Image == r.Name {
			vars["iso_filename"], vars["iso_checksum"] = r.VolumeFile(), r.Checksum
			continue
		}
		extra = append(extra, r.VolumeFile())
	}
	vars["iso_storage"] = storage
	if len(extra) > 0 {
		// A list variable: Packer reads -var values of non-string
		// variables as HCL expressions, and a JSON string list is one.
		b, err := json.Marshal(extra)
		if err != nil {
			return err
		}
		vars["extra_iso_files"] = string(b)
	}
	return nil
}
