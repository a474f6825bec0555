/// What the binary knows of its own build: the git revision and the date it was built from,
/// written before every build by the `BuildInfoPlugin` (`scripts/build-info`). `rampart
/// --version`, the `rampart_build_info` metric and the SBOM (`scripts/sbom`, which asks the
/// binary) all say the same.
public enum BuildInfo {
    /// HEAD's commit when the binary was built, with `-dirty` when tracked files differed from
    /// it; `unknown` when built outside a git checkout.
    public static let revision = generatedRevision
    /// The commit's date (or `SOURCE_DATE_EPOCH`), RFC 3339 in UTC: the same commit gives the
    /// same date, so a rebuild gives the same bytes.
    public static let date = generatedBuildDate
    /// The first 12 digits of the revision (with `-dirty` if so), for one-line displays.
    public static var shortRevision: String {
        guard revision.count >= 40 else { return revision }
        return String(revision.prefix(12)) + (revision.hasSuffix("-dirty") ? "-dirty" : "")
    }
}
