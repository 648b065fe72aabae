package metricsql

import "fmt"

// Error is why a Metric SQL text is refused: the clause (SQL, SELECT, FROM,
// WHERE, GROUP BY, HAVING, ORDER BY, LIMIT) and what is wrong in it. The
// API maps it to invalid_argument.
type Error struct {
	Clause string
	Msg    string
}

// Error is "WHERE: unknown column \"foo\" (columns: ...)".
func (e *Error) Error() string { return e.Clause + ": " + e.Msg }

func errorf(clause, format string, args ...any) *Error {
	return &Error{Clause: clause, Msg: fmt.Sprintf(format, args...)}
}
