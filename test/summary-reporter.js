// Prints the one plain line CI reads after jest's own summary: "N passed, N failed[, N skipped]".
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    // stderr, where jest's own summary goes, so that this line comes after it.
    process.stderr.write(`\n${line}\n`);
  }
}
module.exports = SummaryReporter;
