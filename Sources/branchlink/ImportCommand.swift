import ArgumentParser

// Placeholder so the CLI compiles while this command is being written; replaced by its owner.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "(being written)")
}
