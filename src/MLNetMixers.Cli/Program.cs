using MLNetMixers.Cli;

return CliApp.Run(args);
