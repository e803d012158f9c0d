import ArgumentParser
import Foundation

@main
struct ASORender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aso-render",
        abstract: "Turns photos into artistic, print-ready 300 DPI renderings.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, MigrateCommand.self, SubmitCommand.self, RenderCommand.self, GalleryCommand.self, PresetsCommand.self,
            StylesCommand.self,
            ConfigCommand.self, APIKeyCommand.self, WebhookSecretCommand.self,
        ]
    )
}
