/// One thing `import-avi` has to say about the export: a warning (an Avi
/// setting the tether configuration does not carry) or an error (an export
/// that cannot be converted at all).
public struct AviFinding: Sendable, Equatable, CustomStringConvertible {
    /// What it is about: "Pool 'web'", "VirtualService 'www'", "the export",
    /// or "FILE:LINE:COLUMN" for JSON syntax.
    public var subject: String
    public var message: String

    public init(subject: String, message: String) {
        self.subject = subject
        self.message = message
    }

    public var description: String { "\(subject): \(message)" }
}

/// An Avi object, as findings name it: its type as the export spells it
/// and its name.
struct AviSubject: Hashable, CustomStringConvertible {
    let type: String
    let name: String

    var description: String { "\(type) '\(name)'" }
}

/// Collects findings, at most one warning per subject and setting.
struct FindingLog {
    private(set) var warnings: [AviFinding] = []
    private(set) var errors: [AviFinding] = []
    private var warned: Set<String> = []

    mutating func error(_ subject: String, _ message: String) {
        errors.append(AviFinding(subject: subject, message: message))
    }

    mutating func error(_ subject: AviSubject, _ message: String) {
        error(subject.description, message)
    }

    /// `setting` identifies what the warning is about within `subject`
    /// ("connection_ramp_duration"); a second warning for the same pair is
    /// dropped.
    mutating func warning(_ subject: String, setting: String, _ message: String) {
        guard warned.insert(subject + "\u{0}" + setting).inserted else { return }
        warnings.append(AviFinding(subject: subject, message: message))
    }

    mutating func warning(_ subject: AviSubject, setting: String, _ message: String) {
        warning(subject.description, setting: setting, message)
    }

    /// The standard wording for a field that is dropped.
    mutating func unsupported(_ subject: AviSubject, field: String, value: JSONValue, reason: String?) {
        var message = "field '\(field)' (\(value.brief)) is not supported by tether"
        if let reason { message += " (\(reason))" }
        warning(subject, setting: field, message + ", dropped")
    }
}
