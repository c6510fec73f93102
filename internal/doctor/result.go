package doctor

// Status is a check's outcome.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's outcome. Fix says what to do (empty on pass);
// Details are facts behind the message, one a line.
type Result struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Status  Status   `json:"status"`
	Message string   `json:"message"`
	Fix     string   `json:"fix,omitempty"`
	Details []string `json:"details,omitempty"`
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

func pass(id, name, msg string, details ...string) Result {
	return Result{ID: id, Name: name, Status: Pass, Message: msg, Details: details}
}

func warn(id, name, msg, fix string, details ...string) Result {
	return Result{ID: id, Name: name, Status: Warn, Message: msg, Fix: fix, Details: details}
}

func fail(id, name, msg, fix string, details ...string) Result {
	return Result{ID: id, Name: name, Status: Fail, Message: msg, Fix: fix, Details: details}
}
